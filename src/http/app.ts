// createApp(deps): every route, no listening; tests call app.request() and the CLI serves it.

import { Hono } from "hono";
import { AppError } from "../domain/errors.js";
import { Metrics } from "../metrics/metrics.js";
import { authMiddleware } from "./auth-middleware.js";
import type { AppDeps } from "./deps.js";
import { errorBody, handleError } from "./errors.js";
import { openApiRoutes } from "./openapi.js";
import { requestId } from "./request-id.js";
import { backupRoutes } from "./routes/backup.js";
import { billPageRoutes } from "./routes/bill-pages.js";
import { chargingRoutes } from "./routes/charging.js";
import { eventRoutes } from "./routes/events.js";
import { feedRoutes } from "./routes/feeds.js";
import { healthRoutes } from "./routes/health.js";
import { metricsRoutes } from "./routes/metrics.js";
import { petnameRoutes } from "./routes/petnames.js";
import { recordRoutes } from "./routes/records.js";
import { swiftStatsRoutes } from "./routes/swift-stats.js";
import { tokenRoutes } from "./routes/tokens.js";
import { usageRoutes } from "./routes/usage.js";
import { urlTextGuard } from "./url-text-guard.js";

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const metrics = deps.metrics ?? new Metrics();
  // First, so that every log line of a request, the guards' included, carries its id, and every answer is counted.
  app.use("*", requestId({ logger: deps.logger, metrics }));
  app.use("*", urlTextGuard());
  // Before the routes, so that every route, and every route added later, needs a token (see auth/access.ts).
  app.use("*", authMiddleware({ tokens: deps.backend.tokens, localReads: deps.localReads }));
  healthRoutes(app, deps);
  eventRoutes(app, { ...deps, metrics });
  tokenRoutes(app, deps);
  swiftStatsRoutes(app, deps);
  usageRoutes(app, deps);
  billPageRoutes(app, deps);
  petnameRoutes(app, deps);
  backupRoutes(app, deps);
  metricsRoutes(app, metrics);
  recordRoutes(app, deps);
  feedRoutes(app, deps);
  chargingRoutes(app, deps);
  openApiRoutes(app);
  app.notFound((c) => c.json(errorBody(new AppError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`)), 404));
  app.onError(handleError(deps.logger));
  return app;
}
