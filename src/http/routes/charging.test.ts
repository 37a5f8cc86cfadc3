// The charging routes in the app, on SQLite: who may call them, what they answer, and what a wrong request gets.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../../backend/backend.js";
import { closePeriod } from "../../charging/billing-run.js";
import { BILLING_POLICY } from "../../charging/billing-run-contract.js";
import { GROUP_POLICY } from "../../charging/resolution-contract.js";
import { event } from "../../store/contract-events.js";
import { openTestApp, type TestApp } from "../test-app.js";

describe("charging routes", () => {
  let backend: Backend;
  let app: TestApp["app"];
  let tokens: Record<string, string>;
  beforeEach(async () => {
    ({ backend, app, tokens } = await openTestApp());
    await backend.events.insertEvents([
      event({
        id: "1",
        server: "s1",
        account: "A",
        time: Date.parse("2026-10-01T00:00:00Z"),
        metric: "storage.bytes",
        kind: "level",
        value: 730_000_000_000n,
      }),
    ]);
  });
  afterEach(async () => {
    await backend.close();
  });
  const call = (token: string | undefined, method: string, path: string, body?: string) =>
    app.request(path, {
      method,
      headers: { "content-type": "application/json", ...(token ? { "X-Auth-Token": token } : {}) },
      ...(body !== undefined ? { body } : {}),
    });

  it("loads the policy and sets agreements for admins only, and shows the policy to readers", async () => {
    expect((await call(tokens.read, "PUT", "/v1/policy", BILLING_POLICY)).status).toBe(403);
    expect((await call(tokens.account, "PUT", "/v1/policy", BILLING_POLICY)).status).toBe(403);
    expect((await call(undefined, "PUT", "/v1/policy", BILLING_POLICY)).status).toBe(401);
    expect((await call(tokens.admin, "GET", "/v1/policy")).status).toBe(404);
    const loaded = await call(tokens.admin, "PUT", "/v1/policy?from=2026-01-01T00:00:00Z", BILLING_POLICY);
    expect(loaded.status).toBe(201);
    expect(await loaded.json()).toMatchObject({ version: 1, from: "2026-01-01T00:00:00.000Z" });
    const bad = await call(tokens.admin, "PUT", "/v1/policy?from=2026-02-01T00:00:00Z", "resources: [1]\n");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^policy line 1/);
    expect((await call(tokens.admin, "PUT", "/v1/policy?from=2025-01-01T00:00:00Z", BILLING_POLICY)).status).toBe(409);
    const shown = await call(tokens.read, "GET", "/v1/policy");
    expect(await shown.json()).toMatchObject({ version: 1, text: BILLING_POLICY, versions: [{ version: 1 }] });
    expect((await call(tokens.account, "GET", "/v1/policy")).status).toBe(403);

    const body = JSON.stringify({ agreement: "std", from: "2026-01-01T00:00:00Z" });
    expect((await call(tokens.read, "PUT", "/v1/accounts/A/agreement", body)).status).toBe(403);
    expect((await call(tokens.account, "PUT", "/v1/accounts/A/agreement", body)).status).toBe(403);
    const set = await call(tokens.admin, "PUT", "/v1/accounts/A/agreement", body);
    expect(await set.json()).toEqual({ account: "A", agreement: "std", from: "2026-01-01T00:00:00.000Z" });
    expect((await call(tokens.admin, "PUT", "/v1/accounts/A/agreement", body)).status).toBe(409);
    const unknown = await call(tokens.admin, "PUT", "/v1/accounts/A/agreement", JSON.stringify({ agreement: "gold" }));
    expect(unknown.status).toBe(400);
    expect((await call(tokens.admin, "PUT", "/v1/accounts/A/agreement", "{oops")).status).toBe(400);
    expect(await backend.charging.agreements("A", "account")).toHaveLength(1);
  });

  it("sets groups and group agreements for admins only; an account token reads its own group", async () => {
    await call(tokens.admin, "PUT", "/v1/policy?from=2026-01-01T00:00:00Z", GROUP_POLICY);
    const agreement = JSON.stringify({ agreement: "half", from: "2026-01-01T00:00:00Z" });
    expect((await call(tokens.read, "PUT", "/v1/groups/team/agreement", agreement)).status).toBe(403);
    const set = await call(tokens.admin, "PUT", "/v1/groups/team/agreement", agreement);
    expect(await set.json()).toEqual({ group: "team", agreement: "half", from: "2026-01-01T00:00:00.000Z" });
    expect((await call(tokens.admin, "PUT", "/v1/groups/team/agreement", agreement)).status).toBe(409);

    const join = JSON.stringify({ group: "team", from: "2026-11-11T00:00:00Z" });
    expect((await call(tokens.account, "PUT", "/v1/accounts/A/group", join)).status).toBe(403);
    const joined = await call(tokens.admin, "PUT", "/v1/accounts/A/group", join);
    expect(await joined.json()).toEqual({ account: "A", group: "team", from: "2026-11-11T00:00:00.000Z" });
    const leave = JSON.stringify({ group: null, from: "2026-11-21T00:00:00Z" });
    expect((await call(tokens.admin, "PUT", "/v1/accounts/A/group", leave)).status).toBe(200);
    for (const bad of ['{"from": "2026-12-01T00:00:00Z"}', '{"group": 3}', '{"group": ""}', "[1]", "{oops"]) {
      const answer = await call(tokens.admin, "PUT", "/v1/accounts/A/group", bad);
      expect(answer.status, bad).toBe(400);
    }
    expect((await call(tokens.admin, "PUT", "/v1/accounts/A/group", join)).status).toBe(409);
    expect(await backend.charging.memberships("A")).toHaveLength(2);

    for (const token of [tokens.admin, tokens.read, tokens.account]) {
      const shown = await call(token, "GET", "/v1/accounts/A/group");
      expect(shown.status).toBe(200);
      expect(await shown.json()).toMatchObject({
        account: "A",
        memberships: [
          { group: "team", from: "2026-11-11T00:00:00.000Z", to: "2026-11-21T00:00:00.000Z" },
          { group: null, from: "2026-11-21T00:00:00.000Z", to: null },
        ],
      });
    }
    expect((await call(tokens.account, "GET", "/v1/accounts/B/group")).status).toBe(403);
    // 240 h at the default's 0.02, 240 h at team's 0.01, 240 h at 0.02 again.
    const bill = (await (await call(tokens.account, "GET", "/v1/accounts/A/bills/2026-11")).json()) as {
      total: string;
      agreements: unknown[];
    };
    expect(bill.total).toBe("12.00");
    expect(bill.agreements).toEqual([
      { name: "std", source: "default", start: "2026-11-01T00:00:00.000Z", end: "2026-11-11T00:00:00.000Z" },
      {
        name: "half",
        source: "group",
        group: "team",
        start: "2026-11-11T00:00:00.000Z",
        end: "2026-11-21T00:00:00.000Z",
      },
      { name: "std", source: "default", start: "2026-11-21T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" },
    ]);
  });

  it("closes an ended period for admins only, once: closing again writes nothing", async () => {
    await call(tokens.admin, "PUT", "/v1/policy?from=2026-01-01T00:00:00Z", BILLING_POLICY);
    for (const token of [tokens.read, tokens.account, tokens.ingest]) {
      expect((await call(token, "POST", "/v1/accounts/A/bills/2026-10/close")).status).toBe(403);
    }
    expect((await call(undefined, "POST", "/v1/accounts/A/bills/2026-10/close")).status).toBe(401);
    expect(await backend.charging.ledger("A")).toEqual([]);
    const closed = await call(tokens.admin, "POST", "/v1/accounts/A/bills/2026-10/close");
    expect(closed.status).toBe(200);
    expect(await closed.json()).toEqual({
      account: "A",
      written: 2,
      existing: 0,
      total: "14.88",
      closing_balance: "-4.88",
    });
    const again = await call(tokens.admin, "POST", "/v1/accounts/A/bills/2026-10/close");
    expect(await again.json()).toMatchObject({ written: 0, existing: 2, total: "14.88" });
    const open = await call(tokens.admin, "POST", "/v1/accounts/A/bills/2099-01/close");
    expect(open.status).toBe(400);
    expect(((await open.json()) as { error: { message: string } }).error.message).toContain("has not ended");
    expect((await call(tokens.admin, "POST", "/v1/accounts/A/bills/2026-09/close")).status).toBe(409);
    expect(await backend.charging.ledger("A")).toHaveLength(2);
  });

  it("gives bills and the balance to admins, readers and the account's own token only", async () => {
    await call(tokens.admin, "PUT", "/v1/policy?from=2026-01-01T00:00:00Z", BILLING_POLICY);
    await closePeriod(backend.charging, backend.usage, "A", "2026-10", Date.parse("2026-11-02T00:00:00Z"));
    for (const token of [tokens.admin, tokens.read, tokens.account]) {
      const bill = await call(token, "GET", "/v1/accounts/A/bills/2026-10");
      expect(bill.status).toBe(200);
      expect(await bill.json()).toMatchObject({
        account: "A",
        agreement: "std",
        period: { start: "2026-10-01T00:00:00.000Z", end: "2026-11-01T00:00:00.000Z" },
        lines: [{ resource: "storage", quantity: "744", unit: "GB-month", credits: "14.88" }],
        credits_granted: "10",
        total: "14.88",
        opening_balance: "0",
        closing_balance: "-4.88",
      });
      const balance = await call(token, "GET", "/v1/accounts/A/balance");
      expect(balance.status).toBe(200);
      expect(await balance.json()).toMatchObject({ account: "A", closed_balance: "-4.88", closed_through: "2026-10" });
    }
    expect((await call(tokens.account, "GET", "/v1/accounts/B/bills/2026-10")).status).toBe(403);
    expect((await call(tokens.account, "GET", "/v1/accounts/B/balance")).status).toBe(403);
    expect((await call(tokens.ingest, "GET", "/v1/accounts/A/balance")).status).toBe(403);
    expect((await call(undefined, "GET", "/v1/accounts/A/balance")).status).toBe(401);
    const badPeriod = await call(tokens.admin, "GET", "/v1/accounts/A/bills/October");
    expect(badPeriod.status).toBe(400);
    expect(await badPeriod.json()).toEqual({
      error: { code: "VALIDATION", message: 'period "October" is not a month like 2026-11' },
    });
    expect(await backend.charging.ledger("A")).toHaveLength(2);
  });
});
