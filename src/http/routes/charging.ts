// Charging over HTTP: the policy (PUT/GET /v1/policy), an account's agreement, bills and balance. Each route calls
// the use case `tally policy load`, `tally agreement set`, `tally bill` and `tally balance` call.

import type { Context, Hono } from "hono";
import { canReadAccount } from "../../auth/principal.js";
import { accountBalance, billAccount } from "../../charging/billing-run.js";
import { currentPolicy, loadPolicy, setAgreement, startTime } from "../../charging/charge-account.js";
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
    let body: unknown;
    try {
      body = JSON.parse(await bodyText(c, MAX_AGREEMENT_BODY));
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw validation(`the body is not valid JSON: ${(error as Error).message}`);
    }
    const { agreement, from } = (body ?? {}) as Record<string, unknown>;
    if (typeof agreement !== "string" || agreement === "")
      throw validation('give the agreement: {"agreement": "NAME"}');
    if (from !== undefined && typeof from !== "string" && typeof from !== "number") {
      throw validation("from must be an RFC 3339 time or epoch milliseconds");
    }
    const start = startTime(from === undefined ? undefined : String(from), "from", Date.now());
    await setAgreement(store, account, agreement, start);
    return c.json({ account, agreement, from: isoTime(start) });
  });

  app.get("/v1/accounts/:account/bills/:period", async (c) => {
    const account = readableAccount(c);
    return c.json(await billAccount(store, usage, account, c.req.param("period")));
  });

  app.get("/v1/accounts/:account/balance", async (c) => {
    const account = readableAccount(c);
    return c.json(await accountBalance(store, usage, account, Date.now()));
  });
}
