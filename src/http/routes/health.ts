// GET /healthz: the process is up and its store answers, and how many log lines could not be written.

import type { Hono } from "hono";
import type { AppDeps } from "../deps.js";

export function healthRoutes(app: Hono, deps: AppDeps): void {
  app.get("/healthz", async (c) => {
    await deps.backend.usage.servers();
    // Still "ok" while log lines are dropped: the server serves without its log, and a monitor can watch the count.
    return c.json({ status: "ok", store: deps.backend.description, log: { dropped: deps.log?.dropped ?? 0 } });
  });
}
