// The bill pages: /usage/bills/<period>/<account> and /usage/explain/<period>/<account>, a page for a browser, or with
// format=json (or an Accept header that puts JSON first) the JSON of GET /v1/accounts/<a>/bills/<period>[/explain].
// The account comes last in the path because an account may hold a slash.

import type { Context, Hono } from "hono";
import { canReadAccount } from "../../auth/principal.js";
import { accountBill } from "../../charging/billing-run.js";
import { explainBill, parseStepLimit } from "../../charging/explain.js";
import { AppError } from "../../domain/errors.js";
import { validateAccount } from "../../petnames/petname.js";
import { renderBillPage, renderExplainPage } from "../../usage/bill-page.js";
import type { AppDeps } from "../deps.js";
import { AUTH_ERRORS, errorResponse } from "../openapi-schema.js";
import { asPage, chooseFormat, htmlError, htmlPage, principalOf } from "./usage.js";

type Render = (account: string, period: string, petname: string | null) => Promise<{ json: unknown; html: string }>;

export function billPageRoutes(app: Hono, deps: AppDeps): void {
  const store = deps.backend.charging;
  const usage = deps.backend.usage;
  const demo = deps.demo ?? false;

  /** The format, the account check and the errors the two pages share; `render` gives both forms. */
  const page = async (c: Context, render: Render) => {
    const formatParam = c.req.query("format");
    const format = chooseFormat(formatParam === "json" ? "json" : null, c.req.header("accept"));
    try {
      if (formatParam && formatParam !== "json" && formatParam !== "html") {
        throw new AppError("VALIDATION", "format must be html or json");
      }
      const account = validateAccount(c.req.param("account"));
      const principal = principalOf(c);
      if (principal && !canReadAccount(principal, account)) {
        throw new AppError("FORBIDDEN", `this token may not read the charges of account ${JSON.stringify(account)}`);
      }
      const petname = (await deps.backend.petnames.get([account])).get(account) ?? null;
      const answer = await render(account, c.req.param("period") as string, petname);
      if (demo) c.header("X-Tally-Demo", "true");
      c.header("Cache-Control", "no-store");
      return format === "json" ? c.json(answer.json) : htmlPage(c, answer.html);
    } catch (error) {
      if (format !== "json" && asPage(error)) return htmlError(c, error, demo);
      throw error;
    }
  };

  app.get("/usage/bills/:period/:account{.+}", (c) =>
    page(c, async (account, period, petname) => {
      const { bill, closed } = await accountBill(store, usage, account, period);
      return { json: bill, html: renderBillPage({ bill, closed, petname, demo }) };
    }),
  );

  app.get("/usage/explain/:period/:account{.+}", (c) =>
    page(c, async (account, period, petname) => {
      const explain = await explainBill(store, usage, account, period, parseStepLimit(c.req.query("limit")));
      return { json: explain, html: renderExplainPage({ explain, petname, demo }) };
    }),
  );
}

const pathParams = [
  {
    name: "period",
    in: "path",
    required: true,
    description: "YYYY-MM, or the start date YYYY-MM-DD for weeks.",
    schema: { type: "string" },
  },
  {
    name: "account",
    in: "path",
    required: true,
    description: "The account; it may hold a slash.",
    schema: { type: "string" },
  },
  {
    name: "format",
    in: "query",
    required: false,
    description: "html or json; otherwise the Accept header decides (HTML by default).",
    schema: { enum: ["html", "json"] },
  },
];
const pageContent = (what: string) => ({
  description: what,
  content: { "text/html": { schema: { type: "string" } }, "application/json": { schema: { type: "object" } } },
});

/** The bill pages in /openapi.json. */
export const BILL_PAGE_OPENAPI_PATHS = {
  "/usage/bills/{period}/{account}": {
    get: {
      operationId: "billPage",
      summary: "An account's bill for a period as a page (or its JSON, as GET /v1/accounts/{account}/bills/{period}).",
      tags: ["charging"],
      parameters: pathParams,
      responses: {
        "200": pageContent("The bill: lines, slices, credits granted, adjustments, balances, agreements."),
        "400": errorResponse("The period is not one of the policy's, or format is not html or json."),
        "404": errorResponse("No policy is loaded."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/usage/explain/{period}/{account}": {
    get: {
      operationId: "explainPage",
      summary: "How each line of the bill was priced, as a page (or its JSON, as …/bills/{period}/explain).",
      tags: ["charging"],
      parameters: [
        ...pathParams,
        {
          name: "limit",
          in: "query",
          required: false,
          description: "Hourly steps listed per line, 1 to 10000 (default 800).",
          schema: { type: "integer", minimum: 1, maximum: 10000 },
        },
      ],
      responses: {
        "200": pageContent("The explanation."),
        "400": errorResponse("The period, format or limit is not valid."),
        "404": errorResponse("No policy is loaded."),
        ...AUTH_ERRORS,
      },
    },
  },
};
