// The bill pages and …/explain in the app, on SQLite: who may read them, what they answer, and that every name is
// escaped.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../../backend/backend.js";
import { closePeriod } from "../../charging/billing-run.js";
import { BILLING_POLICY } from "../../charging/billing-run-contract.js";
import { loadPolicy, setAgreement } from "../../charging/charge-account.js";
import type { ExplainJson } from "../../charging/explain.js";
import { event } from "../../store/contract-events.js";
import { openTestApp, type TestApp } from "../test-app.js";

const EVIL = "<img src=x onerror=alert(1)>";

describe("bill pages and explain", () => {
  let backend: Backend;
  let app: TestApp["app"];
  let tokens: Record<string, string>;
  beforeEach(async () => {
    ({ backend, app, tokens } = await openTestApp());
    const level = (id: string, account: string) =>
      event({
        id,
        server: "s1",
        account,
        time: Date.parse("2026-10-01T00:00:00Z"),
        metric: "storage.bytes",
        kind: "level",
        value: 730_000_000_000n,
      });
    await backend.events.insertEvents([level("1", "A"), level("2", EVIL)]);
    await backend.petnames.set([{ account: EVIL, name: `${EVIL} & co` }]);
  });
  afterEach(async () => {
    await backend.close();
  });
  const get = (token: string | undefined, path: string, accept?: string) =>
    app.request(path, { headers: { ...(token ? { "X-Auth-Token": token } : {}), ...(accept ? { accept } : {}) } });

  it("gives the explanation to admins, readers and the account's own token, its total the bill's", async () => {
    expect((await get(tokens.admin, "/v1/accounts/A/bills/2026-10/explain")).status).toBe(404);
    await loadPolicy(backend.charging, BILLING_POLICY, 0, 0);
    await setAgreement(backend.charging, "A", "std", 0);
    await closePeriod(backend.charging, backend.usage, "A", "2026-10", Date.parse("2026-11-02T00:00:00Z"));
    for (const token of [tokens.admin, tokens.read, tokens.account]) {
      const res = await get(token, "/v1/accounts/A/bills/2026-10/explain?limit=5");
      expect(res.status).toBe(200);
      const x = (await res.json()) as ExplainJson;
      expect(x).toMatchObject({ account: "A", policy_version: 1, closed: true, total: "14.88", step_limit: 5 });
      expect(x.bill).toEqual(await (await get(token, "/v1/accounts/A/bills/2026-10")).json());
      expect(x.lines[0]?.slices[0]).toMatchObject({ price: "0.02", result: "14.88", variables: { volume: "744" } });
    }
    expect((await get(tokens.account, "/v1/accounts/B/bills/2026-10/explain")).status).toBe(403);
    expect((await get(undefined, "/v1/accounts/A/bills/2026-10/explain")).status).toBe(401);
    const bad = await get(tokens.admin, "/v1/accounts/A/bills/2026-10/explain?limit=0");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: { code: "VALIDATION", message: "limit must be a whole number of steps from 1 to 10000" },
    });
  });

  it("links the account page to its bills and shows the bill and its explanation as pages, escaped", async () => {
    const account = `/usage/accounts/${encodeURIComponent(EVIL)}`;
    // Before any policy the account page has no bills, and a bill page says why there is none.
    expect(await (await get(tokens.admin, account)).text()).not.toContain('id="bills"');
    expect((await get(tokens.admin, "/usage/bills/2026-10/A")).status).toBe(404);
    await loadPolicy(backend.charging, BILLING_POLICY, 0, 0);
    // The page links the periods around now: close last month, 730 GB at 0.02 a GB-month of 730 hours.
    const now = new Date();
    const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
    const period = new Date(start).toISOString().slice(0, 7);
    const cents = ((Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - start) / 3_600_000) * 2;
    const [charged = "", closing = ""] = [cents, 1000 - cents].map(
      (c) => `${c < 0 ? "-" : ""}${Math.floor(Math.abs(c) / 100)}.${String(Math.abs(c) % 100).padStart(2, "0")}`,
    );
    await closePeriod(backend.charging, backend.usage, EVIL, period, Date.now());

    const page = await (await get(tokens.admin, account)).text();
    const billPath = `/usage/bills/${period}/${encodeURIComponent(EVIL)}`;
    expect(page).toContain(`<a href="${billPath.replaceAll("&", "&amp;")}">${period}</a>`);
    expect(page).toContain(`closed, charged ${charged}`);
    expect(page).not.toContain("<img");

    const res = await get(tokens.admin, billPath);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const bill = await res.text();
    expect(bill).not.toContain("<img");
    expect(bill).toContain("&lt;img src=x onerror=alert(1)&gt; &amp; co");
    expect(bill).toContain(`<td class="num" id="total">${charged}</td>`);
    expect(bill).toContain(`<dd id="closing-balance"><strong>${closing}</strong></dd>`);
    expect(bill).toContain("the policy&#39;s default");
    // The same path gives the JSON bill when asked for it.
    const json = await get(tokens.admin, billPath, "application/json");
    expect(await json.json()).toMatchObject({ account: EVIL, total: charged, closing_balance: closing });
    expect(await (await get(tokens.admin, `${billPath}?format=json`)).json()).toMatchObject({ total: charged });

    const explain = await get(tokens.admin, `/usage/explain/${period}/${encodeURIComponent(EVIL)}`);
    expect(explain.status).toBe(200);
    const text = await explain.text();
    expect(text).not.toContain("<img");
    expect(text).toContain(`<dd id="explain-total">${charged}</dd>`);
    expect(text).toContain("<code>price * volume</code>");
    // A slice's result is exact, its trailing zeros dropped.
    expect(text).toContain(`<dd class="result">${charged.replace(/\.?0+$/, "")}</dd>`);
  });

  it("keeps an account token to its own bills, and answers a person with pages for errors", async () => {
    await loadPolicy(backend.charging, BILLING_POLICY, 0, 0);
    expect((await get(tokens.account, "/usage/bills/2026-10/A")).status).toBe(200);
    expect((await get(tokens.account, "/usage/explain/2026-10/A")).status).toBe(200);
    const other = await get(tokens.account, `/usage/bills/2026-10/${encodeURIComponent(EVIL)}`);
    expect(other.status).toBe(403);
    expect(await other.text()).toContain("<h1>403 FORBIDDEN</h1>");
    expect((await get(tokens.account, "/usage/explain/2026-10/B", "application/json")).status).toBe(403);
    expect((await get(undefined, "/usage/bills/2026-10/A")).status).toBe(401);
    const badPeriod = await get(tokens.admin, "/usage/bills/October/A");
    expect(badPeriod.status).toBe(400);
    expect(await badPeriod.text()).toContain("period &quot;October&quot; is not a month like 2026-11");
    expect((await get(tokens.admin, "/usage/bills/2026-10/A?format=csv")).status).toBe(400);
    expect((await get(tokens.admin, "/usage/explain/2026-10/A?limit=x")).status).toBe(400);
    // The open period's bill, not closed: priced now.
    const open = await (await get(tokens.admin, "/usage/bills/2026-11/A")).text();
    expect(open).toContain("not closed: priced now");
    expect(await backend.charging.ledger("A")).toEqual([]);
  });
});
