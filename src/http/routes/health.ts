// GET /healthz: the process is up and its store answers.

import type { Hono } from "hono";
import type { AppDeps } from "../app.js";

export function healthRoutes(app: Hono, deps: AppDeps): void {
  app.get("/healthz", async (c) => {
    await deps.store.servers();
    return c.json({ status: "ok", store: deps.store.description });
  });
}
