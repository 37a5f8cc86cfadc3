// GET /io_sum, /io_detail, /space_detail, and GET / with X-Query-Method: the swift-stats API as its seed has it.

import type { Context, Hono } from "hono";
import { assertCanReadAccount, canReadAccount } from "../../auth/principal.js";
import { parseSwiftStatsQuery, QUERY_METHODS, type QueryMethod } from "../../swift-stats/query.js";
import { render } from "../../swift-stats/render.js";
import { DEFAULT_RESELLER_PREFIX, resolveSwiftAccount } from "../../swift-stats/resolve-account.js";
import { runSwiftStatsQuery } from "../../swift-stats/run-query.js";
import type { AppDeps } from "../deps.js";

export function swiftStatsRoutes(app: Hono, deps: AppDeps): void {
  for (const method of QUERY_METHODS) app.get(`/${method}`, (c) => answer(c, deps, method));
  app.get("/", (c) => answer(c, deps, null));
}

async function answer(c: Context, deps: AppDeps, method: QueryMethod | null): Promise<Response> {
  const asked = parseSwiftStatsQuery(
    method,
    { url: c.req.url, header: (name) => c.req.header(name) },
    deps.maxQueryDays,
  );
  const principal = c.get("principal");
  const prefix = deps.swiftResellerPrefix ?? DEFAULT_RESELLER_PREFIX;
  const usage = deps.backend.usage;
  const account = await resolveSwiftAccount(usage, asked, prefix, (a) => canReadAccount(principal, a));
  assertCanReadAccount(principal, account);
  const query = { ...asked, account };
  const { contentType, body } = render(query, await runSwiftStatsQuery(usage, query));
  // Percent-encoded: Node sends a header's characters beyond ASCII as Latin-1 or as UTF-8, depending on the body.
  return c.body(body, 200, { "Content-Type": contentType, "X-Account-Id": encodeURIComponent(account) });
}
