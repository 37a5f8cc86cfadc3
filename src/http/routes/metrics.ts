// GET /metrics: Prometheus text format, for admin, read and metrics tokens (a scraper is given a metrics token).

import type { Hono } from "hono";
import type { Metrics } from "../../metrics/metrics.js";

export function metricsRoutes(app: Hono, metrics: Metrics): void {
  app.get("/metrics", async (c) => {
    const text = await metrics.text();
    return c.body(text, 200, { "Content-Type": metrics.contentType(), "Cache-Control": "no-store" });
  });
}
