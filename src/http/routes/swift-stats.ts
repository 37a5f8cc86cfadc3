// GET /io_sum, /io_detail, /space_detail, and GET / with X-Query-Method: the swift-stats API as its seed has it.

import type { Context, Hono } from "hono";
import { assertCanReadAccount } from "../../auth/principal.js";
import { parseSwiftStatsQuery, QUERY_METHODS, type QueryMethod } from "../../swift-stats/query.js";
import { render } from "../../swift-stats/render.js";
import { runSwiftStatsQuery } from "../../swift-stats/run-query.js";
import type { AppDeps } from "../deps.js";

export function swiftStatsRoutes(app: Hono, deps: AppDeps): void {
  for (const method of QUERY_METHODS) app.get(`/${method}`, (c) => answer(c, deps, method));
  app.get("/", (c) => answer(c, deps, null));
}

async function answer(c: Context, deps: AppDeps, method: QueryMethod | null): Promise<Response> {
  const query = parseSwiftStatsQuery(
    method,
    { url: c.req.url, header: (name) => c.req.header(name) },
    deps.maxQueryDays,
  );
  assertCanReadAccount(c.get("principal"), query.account);
  const { contentType, body } = render(query, await runSwiftStatsQuery(deps.backend.usage, query));
  return c.body(body, 200, { "Content-Type": contentType });
}
