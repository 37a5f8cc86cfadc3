// Charging over HTTP: the policy (PUT/GET /v1/policy), agreements of accounts and groups, an account's group, bills,
// closing a period, and the balance. Each route calls
// the use case `tally policy load`, `tally agreement set`, `tally bill` and `tally balance` call.

import type { Context, Hono } from "hono";
import { canReadAccount } from "../../auth/principal.js";
import { accountBalance, billAccount, closeAll, closePeriod } from "../../charging/billing-run.js";
import {
  accountGroup,
  currentPolicy,
  loadPolicy,
  setAgreement,
  setGroup,
  startTime,
} from "../../charging/charge-account.js";
import { explainBill, parseStepLimit } from "../../charging/explain.js";
import { MAX_POLICY_BYTES } from "../../charging/policy.js";
import { AppError, validation } from "../../domain/errors.js";
import { isoTime } from "../../domain/time.js";
import { validateAccount } from "../../petnames/petname.js";
import type { AppDeps } from "../deps.js";
import { principalOf } from "./usage.js";

const MAX_AGREEMENT_BODY = 16 * 1024;

/** Changing the policy or an agreement needs an admin; without the auth middleware the node is open, as everywhere. */
function requireAdmin(c: Context, what: string): void {
  const principal = principalOf(c);
  if (principal && principal.role !== "admin") throw new AppError("FORBIDDEN", `only an admin token may ${what}`);
}

/** An account's bills and balance: an account token reads its own only. */
function readableAccount(c: Context): string {
  const account = validateAccount(c.req.param("account"));
  const principal = principalOf(c);
  if (principal && !canReadAccount(principal, account)) {
    throw new AppError("FORBIDDEN", `this token may not read the charges of account ${JSON.stringify(account)}`);
  }
  return account;
}

async function bodyText(c: Context, limit: number): Promise<string> {
  const text = await c.req.text();
  if (Buffer.byteLength(text) > limit) throw new AppError("TOO_LARGE", `the body is larger than ${limit} bytes`);
  return text;
}

/** A small JSON body and its `from` (RFC 3339 or epoch ms, default now). */
async function changeBody(c: Context): Promise<{ body: Record<string, unknown>; start: number }> {
  let body: unknown;
  try {
    body = JSON.parse(await bodyText(c, MAX_AGREEMENT_BODY));
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw validation(`the body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw validation("the body must be a JSON object");
  const { from } = body as Record<string, unknown>;
  if (from !== undefined && typeof from !== "string" && typeof from !== "number") {
    throw validation("from must be an RFC 3339 time or epoch milliseconds");
  }
  const start = startTime(from === undefined ? undefined : String(from), "from", Date.now());
  return { body: body as Record<string, unknown>, start };
}

function agreementOf(body: Record<string, unknown>): string {
  const { agreement } = body;
  if (typeof agreement !== "string" || agreement === "") throw validation('give the agreement: {"agreement": "NAME"}');
  return agreement;
}

export function chargingRoutes(app: Hono, deps: AppDeps): void {
  const store = deps.backend.charging;
  const usage = deps.backend.usage;

  // Body: the policy's YAML; ?from=TIME (RFC 3339 or epoch ms, default now) is when the new version applies.
  app.put("/v1/policy", async (c) => {
    requireAdmin(c, "load a policy");
    const text = await bodyText(c, MAX_POLICY_BYTES);
    const from = startTime(c.req.query("from"), "from", Date.now());
    const v = await loadPolicy(store, text, from, Date.now());
    return c.json({ version: v.version, from: isoTime(v.from), loaded_at: isoTime(v.loadedAt) }, 201);
  });

  app.get("/v1/policy", async (c) => c.json(await currentPolicy(store)));

  // Body: {"agreement": "NAME", "from": TIME}: the account holds it from then until its next one.
  app.put("/v1/accounts/:account/agreement", async (c) => {
    requireAdmin(c, "set an agreement");
    const account = validateAccount(c.req.param("account"));
    const { body, start } = await changeBody(c);
    const agreement = agreementOf(body);
    await setAgreement(store, account, agreement, start);
    return c.json({ account, agreement, from: isoTime(start) });
  });

  // Body: {"agreement": "NAME", "from": TIME}: the group's members hold it where they hold none of their own.
  app.put("/v1/groups/:group/agreement", async (c) => {
    requireAdmin(c, "set an agreement");
    const group = validateAccount(c.req.param("group"), "group");
    const { body, start } = await changeBody(c);
    const agreement = agreementOf(body);
    await setAgreement(store, group, agreement, start, "group");
    return c.json({ group, agreement, from: isoTime(start) });
  });

  // Body: {"group": "NAME" or null, "from": TIME}: the account is in that group (null: in none) from then on.
  app.put("/v1/accounts/:account/group", async (c) => {
    requireAdmin(c, "set an account's group");
    const account = validateAccount(c.req.param("account"));
    const { body, start } = await changeBody(c);
    const { group } = body;
    if (group !== null && (typeof group !== "string" || group === "")) {
      throw validation('give the group: {"group": "NAME"}, or {"group": null} to leave it');
    }
    await setGroup(store, account, group, start);
    return c.json({ account, group, from: isoTime(start) });
  });

  app.get("/v1/accounts/:account/group", async (c) => {
    const account = readableAccount(c);
    return c.json(await accountGroup(store, account, Date.now()));
  });

  app.get("/v1/accounts/:account/bills/:period", async (c) => {
    const account = readableAccount(c);
    return c.json(await billAccount(store, usage, account, c.req.param("period")));
  });

  // ?limit=N: the hourly steps listed per line (default 800); the rest are counted, and a note says so.
  app.get("/v1/accounts/:account/bills/:period/explain", async (c) => {
    const account = readableAccount(c);
    const limit = parseStepLimit(c.req.query("limit"));
    return c.json(await explainBill(store, usage, account, c.req.param("period"), limit));
  });

  // Closing is idempotent: a period closed already writes nothing and answers as it was closed.
  app.post("/v1/accounts/:account/bills/:period/close", async (c) => {
    requireAdmin(c, "close a period");
    const account = validateAccount(c.req.param("account"));
    return c.json(await closePeriod(store, usage, account, c.req.param("period"), Date.now()));
  });

  // The billing run: every account charging or usage knows of, a page at a time; run again, it writes nothing.
  app.post("/v1/bills/:period/close", async (c) => {
    requireAdmin(c, "close a period");
    return c.json({ closed: await closeAll(store, usage, c.req.param("period"), Date.now()) });
  });

  app.get("/v1/accounts/:account/balance", async (c) => {
    const account = readableAccount(c);
    return c.json(await accountBalance(store, usage, account, Date.now()));
  });
}
