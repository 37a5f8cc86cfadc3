// GET /healthz: the process is up and its store answers, how many log lines could not be written, and whether
// anything else it was asked to do (consume a broker) is failing.

import type { Hono } from "hono";
import type { AppDeps } from "../deps.js";

export function healthRoutes(app: Hono, deps: AppDeps): void {
  app.get("/healthz", async (c) => {
    await deps.backend.usage.servers();
    // Still "ok" while log lines are dropped: the server serves without its log, and a monitor can watch the count.
    const problems = deps.problems?.() ?? [];
    // Degraded is still 200: the node answers reads and takes HTTP ingest; a monitor reads the status and problems.
    return c.json({
      status: problems.length === 0 ? "ok" : "degraded",
      store: deps.backend.description,
      log: { dropped: deps.log?.dropped ?? 0 },
      ...(problems.length > 0 ? { problems } : {}),
    });
  });
}
