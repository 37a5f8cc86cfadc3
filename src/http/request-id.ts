// Every request gets an id (the client's X-Request-Id when it is a sane one, else a new one), returned in
// X-Request-Id and put on every log line written while it is answered; and every answer is counted for /metrics.

import { randomUUID } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Logger } from "../log/logger.js";
import { requestContext } from "../log/request-context.js";
import type { Metrics } from "../metrics/metrics.js";

/** What a client's id may hold: short, and nothing that could break a log line or a header. */
const CLIENT_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function requestId(deps: { readonly logger: Logger; readonly metrics: Metrics }): MiddlewareHandler {
  return async (c, next) => {
    const given = c.req.header("x-request-id");
    const reqId = given !== undefined && CLIENT_ID.test(given) ? given : randomUUID();
    const started = performance.now();
    await requestContext.run({ reqId }, async () => {
      await next();
      c.header("X-Request-Id", reqId);
      const route = routeOf(c);
      const seconds = (performance.now() - started) / 1000;
      deps.metrics.httpRequest(c.req.method, route, c.res.status, seconds);
      deps.logger.debug(
        { method: c.req.method, route, status: c.res.status, ms: Math.round(seconds * 1000) },
        `${c.req.method} ${route} ${c.res.status}`,
      );
    });
  };
}

/** The route as registered (/usage/accounts/:account), never the path asked, which would make a label per account. */
function routeOf(c: Context): string {
  const handlers = matchedRoutes(c).filter((r) => r.method !== "ALL");
  return handlers.at(-1)?.path ?? "unmatched";
}
