// GET /usage (HTML, JSON, CSV), /usage/states (the same) and /usage/accounts/<account>: validate, call the use case,
// render.

import type { Context, Hono } from "hono";
import { accountScope, canRead, canReadAccount, type Principal } from "../../auth/principal.js";
import { recentBills } from "../../charging/recent-bills.js";
import { AppError, type ErrorCode, HTTP_STATUS } from "../../domain/errors.js";
import { renderAccountPage } from "../../usage/account-page.js";
import { html, layout, PAGE_CSP } from "../../usage/html.js";
import { accountUsageJson, parseHours, renderAccountUsage } from "../../usage/render-account-usage.js";
import { parseStateRequest, renderStateTable, stateTableCsv, stateTableJson } from "../../usage/render-state-table.js";
import { renderUsageTable, type UsageViewDeps, usageTableCsv, usageTableJson } from "../../usage/render-usage-table.js";
import { renderStatePage } from "../../usage/state-page.js";
import { renderUsagePage } from "../../usage/usage-page.js";
import { parseUsageRequest, type UsageFormat } from "../../usage/usage-request.js";
import type { AppDeps } from "../deps.js";

/** The principal the auth middleware set; none (no middleware) reads everything. */
export function principalOf(c: Context): Principal | undefined {
  return (c.var as unknown as Record<string, Principal | undefined>).principal;
}

/** format= wins; otherwise JSON or CSV when the Accept header asks for it above HTML, else HTML. */
export function chooseFormat(given: UsageFormat | null, accept: string | undefined): UsageFormat {
  if (given) return given;
  const types = (accept ?? "").toLowerCase();
  const at = (t: string) => {
    const i = types.indexOf(t);
    return i < 0 ? Number.POSITIVE_INFINITY : i;
  };
  const htmlAt = Math.min(at("text/html"), at("application/xhtml+xml"));
  if (at("application/json") < htmlAt) return "json";
  if (at("text/csv") < htmlAt) return "csv";
  return "html";
}

export function usageRoutes(app: Hono, deps: AppDeps): void {
  const viewDeps: UsageViewDeps = {
    usage: deps.backend.usage,
    usageTable: deps.backend.usageTable,
    petnames: deps.backend.petnames,
    feeds: deps.backend.feeds,
    staleAfterMs: deps.staleAfterMs ?? 15 * 60_000,
    demo: deps.demo ?? false,
  };

  app.get("/usage", async (c) => {
    const params = new URL(c.req.url).searchParams;
    const format = formatAsked(params, c.req.header("accept"));
    try {
      const request = parseUsageRequest(params);
      const principal = principalOf(c);
      if (principal && !canRead(principal)) throw new AppError("FORBIDDEN", "this token may not read usage");
      const view = await renderUsageTable(viewDeps, request, principal ? accountScope(principal) : null);
      if (view.next) {
        const next = new URL(c.req.url);
        next.searchParams.delete("before");
        next.searchParams.set("after", view.next);
        c.header("Link", `<${next.pathname}${next.search}>; rel="next"`);
      }
      return tableAnswer(c, format, viewDeps.demo, {
        json: () => usageTableJson(view),
        csv: ["usage.csv", () => usageTableCsv(view)],
        html: () => renderUsagePage(view),
      });
    } catch (error) {
      if (format === "html" && asPage(error)) return htmlError(c, error, viewDeps.demo);
      throw error;
    }
  });

  app.get("/usage/states", async (c) => {
    const params = new URL(c.req.url).searchParams;
    const format = formatAsked(params, c.req.header("accept"));
    try {
      const request = parseStateRequest(params);
      const principal = principalOf(c);
      if (principal && !canRead(principal)) throw new AppError("FORBIDDEN", "this token may not read usage");
      const view = await renderStateTable(viewDeps, request);
      if (view.next) {
        const next = new URL(c.req.url);
        next.searchParams.set("after", view.next);
        c.header("Link", `<${next.pathname}${next.search}>; rel="next"`);
      }
      return tableAnswer(c, format, viewDeps.demo, {
        json: () => stateTableJson(view),
        csv: ["states.csv", () => stateTableCsv(view)],
        html: () => renderStatePage(view),
      });
    } catch (error) {
      if (format === "html" && asPage(error)) return htmlError(c, error, viewDeps.demo);
      throw error;
    }
  });

  app.get("/usage/accounts/:account{.+}", async (c) => {
    const account = c.req.param("account");
    const formatParam = c.req.query("format");
    const format = chooseFormat(
      formatParam === "json" ? "json" : formatParam === "html" ? "html" : null,
      c.req.header("accept"),
    );
    try {
      if (formatParam && formatParam !== "json" && formatParam !== "html") {
        throw new AppError("VALIDATION", "format must be html or json");
      }
      const principal = principalOf(c);
      if (principal && !canReadAccount(principal, account)) {
        throw new AppError("FORBIDDEN", "this token may not read that account's usage");
      }
      const view = await renderAccountUsage(viewDeps, account, parseHours(c.req.query("hours")));
      if (viewDeps.demo) c.header("X-Tally-Demo", "true");
      c.header("Cache-Control", "no-store");
      if (format === "json") return c.json(accountUsageJson(view));
      return htmlPage(c, renderAccountPage(view, await recentBills(deps.backend.charging, account, Date.now())));
    } catch (error) {
      if (format !== "json" && asPage(error)) return htmlError(c, error, viewDeps.demo);
      throw error;
    }
  });
}

/** Known before the rest is read, so that an error in another parameter answers in the format asked for. */
function formatAsked(params: URLSearchParams, accept: string | undefined): UsageFormat {
  const asked = params.get("format");
  return chooseFormat(asked === "json" || asked === "csv" || asked === "html" ? asked : null, accept);
}

/** A table view in the format asked for: JSON, CSV as a download named `csv[0]`, or a page. Never cached. */
function tableAnswer(
  c: Context,
  format: UsageFormat,
  demo: boolean,
  view: { json: () => unknown; csv: [string, () => string]; html: () => string },
) {
  if (demo) c.header("X-Tally-Demo", "true");
  c.header("Cache-Control", "no-store");
  if (format === "json") return c.json(view.json());
  if (format === "csv") {
    c.header("Content-Disposition", `attachment; filename="${view.csv[0]}"`);
    return c.body(view.csv[1](), 200, { "Content-Type": "text/csv; charset=utf-8" });
  }
  return htmlPage(c, view.html());
}

export function htmlPage(c: Context, body: string, status: 200 | (typeof HTTP_STATUS)[ErrorCode] = 200) {
  c.header("Content-Security-Policy", PAGE_CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  return c.html(body, status);
}

/** A client error for a person: the same code and message as the JSON error, on a page. */
export function htmlError(c: Context, error: AppError, demo: boolean) {
  const status = HTTP_STATUS[error.code];
  const body = html`<h1>${status} ${error.code}</h1><p>${error.message}</p><p><a href="/usage">Back to the usage table</a></p>`;
  return htmlPage(c, layout({ title: "Error", demo, body }), status);
}

/** Client errors become pages when a person asked for a page; server errors go to the one error mapper. */
export const asPage = (error: unknown): error is AppError => error instanceof AppError && HTTP_STATUS[error.code] < 500;

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});
const AUTH_ERRORS = {
  "401": errorResponse("No valid token: none given where one is needed, or an unknown or revoked one."),
  "403": errorResponse("The token's role does not allow this (or names another account)."),
};
const decimal = { type: "string", pattern: "^[0-9]+$", description: "An exact integer as a decimal string." };
const byServer = { type: "object", additionalProperties: decimal };
const query = (name: string, description: string, schema: Record<string, unknown> = { type: "string" }) => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
});

/** The OpenAPI description of these routes, for /openapi.json. */
export const USAGE_OPENAPI_PATHS = {
  "/usage": {
    get: {
      operationId: "usageTable",
      summary: "The usage table: accounts by servers, with totals (HTML, JSON or CSV).",
      description:
        "Rows are accounts, columns servers, cells the current value of a level metric summed over instances. " +
        "Paged by key: pass `next` back as `after`. The cursors carry a snapshot: every page read with them shows the " +
        "table as it was at the first page (as_of), so paging returns each account exactly once while events arrive. " +
        "An account token sees its own row only.",
      tags: ["usage"],
      parameters: [
        query("format", "html, json or csv; otherwise the Accept header decides (HTML by default).", {
          enum: ["html", "json", "csv"],
        }),
        query("metric", "A level metric (default storage.bytes)."),
        query("sort", "total (default, largest first), account, or a server id (largest first)."),
        query("limit", "Rows per page, 1 to 10000 (default 100).", { type: "integer", minimum: 1, maximum: 10000 }),
        query("after", "A cursor (`next` of the previous page): the rows after it."),
        query("before", "A cursor: the rows before it (the previous page)."),
        query("account", "Only this account; repeat for a subset of up to 10000."),
        query("accounts", "Only these accounts, comma-separated."),
        query("q", "Only accounts whose id or petname contains this text."),
        query("server", "Only this server's column; repeat for more. Totals stay across all servers."),
        query("servers", "Only these servers' columns, comma-separated."),
        query("at", "The table as it stood at this time (RFC 3339 or epoch ms), to the hour, from the rollups."),
      ],
      responses: {
        "200": {
          description: "One page of the table.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["as_of", "metric", "servers", "rows", "totals", "next"],
                properties: {
                  as_of: { type: "string", format: "date-time" },
                  metric: { type: "string" },
                  servers: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: {
                        id: { type: "string" },
                        name: { type: "string" },
                        last_heard: { type: ["string", "null"], format: "date-time" },
                        stale: { type: "boolean" },
                      },
                    },
                  },
                  rows: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: {
                        account: { type: "string" },
                        petname: { type: ["string", "null"] },
                        by_server: byServer,
                        total: decimal,
                      },
                    },
                  },
                  totals: { type: "object", properties: { by_server: byServer, total: decimal } },
                  next: { type: ["string", "null"] },
                  subscriptions: {
                    type: "array",
                    description: "On a node with subscriptions: each one's health, as GET /v1/subscriptions.",
                    items: { type: "object" },
                  },
                },
              },
            },
            "text/html": { schema: { type: "string" } },
            "text/csv": { schema: { type: "string" } },
          },
        },
        "400": errorResponse(
          "A parameter is malformed, or metric is not a level metric (a counter, a state or an unknown name): " +
            "the message names it and lists the level metrics there are.",
        ),
        "410": errorResponse(
          "The cursor's snapshot has expired (an hour after its first page): start again without a cursor.",
        ),
        ...AUTH_ERRORS,
      },
    },
  },
  "/usage/states": {
    get: {
      operationId: "stateTable",
      summary: "Which accounts have a state metric on, per server (HTML, JSON or CSV).",
      description:
        "From the latest reading of each (server, account, instance) of a state metric: per account and server with " +
        "a reading, how many of the account's instances there are on now (0: all off). Rows by account, paged with " +
        "`after` (the `next` of the previous page).",
      tags: ["usage"],
      parameters: [
        { ...query("metric", "A state metric, such as power.on."), required: true },
        query("format", "html, json or csv; otherwise the Accept header decides (HTML by default).", {
          enum: ["html", "json", "csv"],
        }),
        query("limit", "Rows per page, 1 to 10000 (default 1000).", { type: "integer", minimum: 1, maximum: 10000 }),
        query("after", "An account id (`next` of the previous page): the rows after it."),
        query("account", "Only this account; repeat for a subset of up to 10000."),
        query("accounts", "Only these accounts, comma-separated."),
        query("server", "Only this server's column; repeat for more."),
        query("servers", "Only these servers' columns, comma-separated."),
      ],
      responses: {
        "200": {
          description: "One page of the states.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["as_of", "metric", "servers", "rows", "totals", "next"],
                properties: {
                  as_of: { type: "string", format: "date-time" },
                  metric: { type: "string" },
                  servers: { type: "array", items: { type: "string" } },
                  rows: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: {
                        account: { type: "string" },
                        petname: { type: ["string", "null"] },
                        on_by_server: { type: "object", additionalProperties: { type: "integer", minimum: 0 } },
                      },
                    },
                  },
                  totals: {
                    type: "object",
                    properties: {
                      accounts_on_by_server: { type: "object", additionalProperties: { type: "integer", minimum: 0 } },
                    },
                  },
                  next: { type: ["string", "null"] },
                },
              },
            },
            "text/html": { schema: { type: "string" } },
            "text/csv": { schema: { type: "string" } },
          },
        },
        "400": errorResponse(
          "A parameter is malformed, or metric is missing or not a state metric: the message lists the state metrics.",
        ),
        ...AUTH_ERRORS,
      },
    },
  },
  "/usage/accounts/{account}": {
    get: {
      operationId: "accountUsage",
      summary: "One account: usage per server and hourly history (HTML, or JSON with format=json).",
      tags: ["usage"],
      parameters: [
        { name: "account", in: "path", required: true, schema: { type: "string" } },
        query("format", "html (default) or json.", { enum: ["html", "json"] }),
        query("hours", "Hours of history, 1 to 2208 (default 48).", { type: "integer", minimum: 1, maximum: 2208 }),
      ],
      responses: {
        "200": {
          description: "The account's usage.",
          content: { "application/json": { schema: { type: "object" } }, "text/html": { schema: { type: "string" } } },
        },
        "404": errorResponse("Nothing is recorded for this account."),
        ...AUTH_ERRORS,
      },
    },
  },
};
