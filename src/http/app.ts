// createApp(deps): every route, no listening; tests call app.request() and the CLI serves it.

import { Hono } from "hono";
import { AppError } from "../domain/errors.js";
import type { Logger } from "../log/logger.js";
import type { UsageStore } from "../store/port.js";
import { errorBody, handleError } from "./errors.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";

export interface AppDeps {
  readonly store: UsageStore;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  healthRoutes(app, deps);
  eventRoutes(app, deps);
  app.notFound((c) => c.json(errorBody(new AppError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`)), 404));
  app.onError(handleError(deps.logger));
  return app;
}
