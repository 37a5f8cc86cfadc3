// GET /metrics: Prometheus text format, for admin and read tokens (a scraper is given a read token).

import type { Hono } from "hono";
import type { Metrics } from "../../metrics/metrics.js";

export function metricsRoutes(app: Hono, metrics: Metrics): void {
  app.get("/metrics", async (c) => {
    const text = await metrics.text();
    return c.body(text, 200, { "Content-Type": metrics.contentType(), "Cache-Control": "no-store" });
  });
}
