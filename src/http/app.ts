// createApp(deps): every route, no listening; tests call app.request() and the CLI serves it.

import { Hono } from "hono";
import type { TokenStore } from "../auth/token-store.js";
import { AppError } from "../domain/errors.js";
import type { LogStats } from "../log/fd-destination.js";
import type { Logger } from "../log/logger.js";
import type { UsageStore } from "../store/port.js";
import { authMiddleware } from "./auth-middleware.js";
import { errorBody, handleError } from "./errors.js";
import { openApiRoutes } from "./openapi.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { petnameRoutes } from "./routes/petnames.js";
import { swiftStatsRoutes } from "./routes/swift-stats.js";
import { tokenRoutes } from "./routes/tokens.js";
import { usageRoutes } from "./routes/usage.js";
import { urlTextGuard } from "./url-text-guard.js";

export interface AppDeps {
  readonly store: UsageStore;
  readonly logger: Logger;
  /** Lines the log dropped, for /healthz; none when absent. */
  readonly log?: LogStats;
  readonly maxBodyBytes: number;
  /** Lines or array elements in one POST /v1/events (default LIMITS.batchEvents). */
  readonly maxBatchEvents?: number;
  readonly tokens: TokenStore;
  /** Reads without a token (loopback only; startServer refuses it on other addresses). */
  readonly localReads: boolean;
  /** The longest range a swift-stats query answers, in days. */
  readonly maxQueryDays: number;
  /** The usage table marks a server stale after this long without an event (default 15 minutes). */
  readonly staleAfterMs?: number;
  /** The data is simulated (tally serve --demo): the usage pages say so. */
  readonly demo?: boolean;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use("*", urlTextGuard());
  // Before the routes, so that every route, and every route added later, needs a token (see auth/access.ts).
  app.use("*", authMiddleware({ tokens: deps.tokens, localReads: deps.localReads }));
  healthRoutes(app, deps);
  eventRoutes(app, deps);
  tokenRoutes(app, deps);
  swiftStatsRoutes(app, deps);
  usageRoutes(app, deps);
  petnameRoutes(app, deps);
  openApiRoutes(app);
  app.notFound((c) => c.json(errorBody(new AppError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`)), 404));
  app.onError(handleError(deps.logger));
  return app;
}
