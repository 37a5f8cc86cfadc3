// The billing run and balance on a real backend, the same on SQLite and PostgreSQL: what closing writes to the
// ledger, replays, a run cut short, the balance, late usage of a closed period, and the explanation of a bill.

import { afterEach, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { event } from "../store/contract-events.js";
import { accountBalance, billAccount, closeAccounts, closeAll, closePeriod } from "./billing-run.js";
import {
  accountAgreements,
  loadPolicy,
  policyForPeriod,
  pricedRange,
  priceUsage,
  setAgreement,
  setGroup,
} from "./charge-account.js";
import type { ChargingStore } from "./charging-store.js";
import { usageFromEvents } from "./event-usage.js";
import { explainBill } from "./explain.js";

export const BILLING_POLICY = `resources:
  - name: storage
    unit: GB-month
    costpolicy: continuous
    metric: storage.bytes
pricelists:
  - name: disk
    storage: 0.02
creditplans:
  - name: monthly
    credits: 10
    every: month
agreements:
  - name: std
    pricelist: disk
    creditplan: monthly
default_agreement: std
`;

/** Levels, a counter, an agreement with night prices from mid-October, and accounts with none of these. */
const MIXED_POLICY = `resources:
  - {name: storage, unit: GB-month, costpolicy: continuous, metric: storage.bytes}
  - {name: files, unit: file-day, costpolicy: continuous, metric: storage.files, complex: true}
  - {name: requests, unit: request, costpolicy: discrete, metric: requests.put}
pricelists:
  - {name: disk, storage: 0.02, files: 0.0001, requests: 0.000005}
  - name: nights
    overrides: disk
    storage: 0.01
    effective:
      repeat:
        - {start: "00 00 * * *", end: "00 06 * * *"}
creditplans:
  - {name: monthly, credits: 10, every: month}
agreements:
  - {name: std, pricelist: disk, creditplan: monthly}
  - {name: night, pricelist: nights, creditplan: monthly}
default_agreement: std
`;

const GB = 1_000_000_000n;
const at = (iso: string) => Date.parse(iso);

const reading = (id: string, server: string, time: string, gb: bigint, account = "A") =>
  event({ id, server, account, time: at(time), metric: "storage.bytes", kind: "level", value: gb * GB });

const put = (id: string, account: string, time: string, metric: string, value: bigint, server = "s1", instance = "") =>
  event({
    id,
    server,
    account,
    time: at(time),
    metric,
    kind: metric === "requests.put" ? "counter" : "level",
    value,
    instance,
  });

/** Accounts A to E with usage of their own shapes; F has none and is granted its credits all the same. */
const mixedUsage = [
  put("a1", "A", "2026-10-01T00:00:00Z", "storage.bytes", 730n * GB),
  put("a2", "A", "2026-10-20T10:30:00Z", "storage.bytes", 12n * GB),
  put("b1", "B", "2026-10-03T07:15:00Z", "storage.bytes", 3n * GB),
  put("b2", "B", "2026-10-03T07:15:00Z", "storage.bytes", 1n * GB, "s2"),
  put("b3", "B", "2026-10-20T00:00:00Z", "requests.put", 1_000_001n),
  put("c1", "C", "2026-10-05T00:00:00Z", "requests.put", 7n),
  put("c2", "C", "2026-10-05T00:40:00Z", "requests.put", 3n),
  put("d1", "D", "2026-09-30T23:59:59Z", "storage.files", 100n, "s1", "photos"),
  put("d2", "D", "2026-10-10T12:00:00Z", "storage.files", 0n, "s1", "photos"),
  put("d3", "D", "2026-10-11T00:00:00Z", "storage.files", 5n, "s1", "mail"),
  put("e1", "E", "2026-10-31T23:00:00Z", "storage.bytes", 1n),
];
const lateUsage = [
  put("late-c", "C", "2026-10-07T00:00:00Z", "requests.put", 400_000n),
  put("late-e", "E", "2026-10-15T00:00:00Z", "storage.bytes", 2n * GB, "s9"),
];

/** A charging store whose appendLedgers fails at its `nth` call, as a process stopping there would. */
function failingAt(store: ChargingStore, nth: number): ChargingStore {
  let calls = 0;
  return Object.create(store, {
    appendLedgers: {
      value: async (batches: Parameters<ChargingStore["appendLedgers"]>[0]) => {
        calls++;
        if (calls === nth) throw new Error("the process stopped here");
        return store.appendLedgers(batches);
      },
    },
  });
}

export function describeBillingRunContract(open: () => Promise<Backend>): void {
  const opened: Backend[] = [];
  const fresh = async () => {
    const b = await open();
    opened.push(b);
    await loadPolicy(b.charging, BILLING_POLICY, 0, 0);
    await setAgreement(b.charging, "A", "std", 0);
    // 730 GB from October 1st on: 744 GB-month in October (744 hours of a 730-hour month), 720 in November.
    await b.events.insertEvents([reading("1", "s1", "2026-10-01T00:00:00Z", 730n)]);
    return b;
  };
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });

  it("closes a period: its grant and charge in the ledger once, the bill as closed; replaying writes nothing", async () => {
    const b = await fresh();
    const now = at("2026-11-05T00:00:00Z");
    const first = await closePeriod(b.charging, b.usage, "A", "2026-10", now);
    expect(first).toMatchObject({ written: 2, existing: 0, total: "14.88", closing_balance: "-4.88" });
    const ledger = await b.charging.ledger("A");
    expect(ledger.map((e) => [e.kind, e.period, e.amount])).toEqual([
      ["grant", "2026-10", "10"],
      ["charge", "2026-10", "14.88"],
    ]);
    expect(await closePeriod(b.charging, b.usage, "A", "2026-10", now)).toMatchObject({ written: 0, existing: 2 });
    expect(await b.charging.ledger("A")).toEqual(ledger);
    const bill = await billAccount(b.charging, b.usage, "A", "2026-10");
    expect(bill).toMatchObject({
      opening_balance: "0",
      credits_granted: "10",
      total: "14.88",
      closing_balance: "-4.88",
    });
    // The next period opens on the closed one's closing balance.
    expect(await billAccount(b.charging, b.usage, "A", "2026-11")).toMatchObject({
      opening_balance: "-4.88",
      total: "14.40",
      closing_balance: "-9.28",
      adjustments: [],
    });
  });

  it("refuses a period that has not ended, and one before a closed period, writing nothing", async () => {
    const b = await fresh();
    await expect(closePeriod(b.charging, b.usage, "A", "2026-11", at("2026-11-30T23:00:00Z"))).rejects.toThrow(
      "period 2026-11 has not ended (it ends at 2026-12-01T00:00:00.000Z)",
    );
    await closePeriod(b.charging, b.usage, "A", "2026-10", at("2026-11-05T00:00:00Z"));
    await expect(closePeriod(b.charging, b.usage, "A", "2026-09", at("2026-11-05T00:00:00Z"))).rejects.toMatchObject({
      code: "CONFLICT",
      message: "account A: period 2026-10 is already closed, so 2026-09, before it, can no longer be closed",
    });
    expect((await b.charging.ledger("A")).length).toBe(2);
  });

  it("gives the balance: the closed periods' closing balance plus the open period so far; asking changes nothing", async () => {
    const b = await fresh();
    const before = await accountBalance(b.charging, b.usage, "A", at("2026-11-05T12:30:00Z"));
    expect(await b.charging.ledger("A")).toEqual([]);
    // Nothing closed: October ended but is not closed, so it counts nothing; November so far: the grant, and
    // 108 whole hours of 730 GB = 108 GB-month at 0.02.
    expect(before).toMatchObject({ closed_balance: "0", closed_through: null, charges: "2.16", balance: "7.84" });
    await closePeriod(b.charging, b.usage, "A", "2026-10", at("2026-11-05T00:00:00Z"));
    const ledger = await b.charging.ledger("A");
    const after = await accountBalance(b.charging, b.usage, "A", at("2026-11-05T12:30:00Z"));
    expect(after).toEqual({
      account: "A",
      at: "2026-11-05T12:30:00.000Z",
      closed_balance: "-4.88",
      closed_through: "2026-10",
      open_period: { name: "2026-11", start: "2026-11-01T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" },
      credits_granted: "10",
      charges: "2.16",
      adjustments: "0",
      balance: "2.96",
    });
    expect(await accountBalance(b.charging, b.usage, "A", at("2026-11-05T12:30:00Z"))).toEqual(after);
    expect(await b.charging.ledger("A")).toEqual(ledger);
    // In the first hour of a period: its grant, no charge yet.
    expect(await accountBalance(b.charging, b.usage, "A", at("2026-11-01T00:10:00Z"))).toMatchObject({
      charges: "0.00",
      balance: "5.12",
    });
  });

  it("completes a run cut short: accounts closed stay as they are, the rest are closed", async () => {
    const b = await fresh();
    await setAgreement(b.charging, "B", "std", 0);
    await b.events.insertEvents([reading("b1", "s1", "2026-10-01T00:00:00Z", 365n, "B")]);
    const now = at("2026-11-05T00:00:00Z");
    await setAgreement(b.charging, "C", "std", 0);
    // A run of pages of two accounts that stops at its second page's write, as a crash would: C's batch is not
    // written at all, and a page is written whole or not at all.
    const failing = failingAt(b.charging, 2);
    await expect(closeAccounts(failing, b.usage, ["A", "B", "C"], "2026-10", now, 2)).rejects.toThrow("stopped here");
    expect((await b.charging.ledger("A")).length).toBe(2);
    expect((await b.charging.ledger("B")).length).toBe(2);
    expect(await b.charging.ledger("C")).toEqual([]);
    await expect(closeAccounts(failingAt(b.charging, 1), b.usage, ["C"], "2026-10", now)).rejects.toThrow("stopped");
    expect(await b.charging.ledger("C")).toEqual([]);
    const rerun = await closeAccounts(b.charging, b.usage, ["A", "B", "C", "C"], "2026-10", now);
    expect(rerun.map((r) => [r.account, r.written, r.existing, r.total])).toEqual([
      ["A", 0, 2, "14.88"],
      ["B", 0, 2, "7.44"],
      ["C", 2, 0, "0.00"],
      ["C", 0, 2, "0.00"],
    ]);
  });

  it("closes every account charging or usage knows of, and no other, when no account is named", async () => {
    const b = await fresh();
    // B stores bytes (default agreement), C is only in a group, D only sends a metric no resource charges, E only
    // has a ledger entry (an earlier period closed), and F only an agreement of its own.
    await b.events.insertEvents([
      reading("b1", "s1", "2026-10-10T00:00:00Z", 73n, "B"),
      put("d1", "D", "2026-10-10T00:00:00Z", "requests.put", 5n),
    ]);
    await setGroup(b.charging, "C", "team", 0);
    await setAgreement(b.charging, "F", "std", 0);
    await closePeriod(b.charging, b.usage, "E", "2026-09", at("2026-10-02T00:00:00Z"));
    expect(await b.charging.accounts()).toEqual(["A", "C", "E", "F"]);
    const now = at("2026-11-05T00:00:00Z");
    const ran = await closeAll(b.charging, b.usage, "2026-10", now, 2);
    // B: 73 GB for the 528 hours from October 10th, 52.8 GB-month at 0.02.
    expect(ran.map((r) => [r.account, r.written, r.total])).toEqual([
      ["A", 2, "14.88"],
      ["B", 2, "1.06"],
      ["C", 2, "0.00"],
      ["E", 2, "0.00"],
      ["F", 2, "0.00"],
    ]);
    // An account without usage still gets its agreement's monthly credits, and a charge of nothing.
    expect((await b.charging.ledger("C")).map((e) => [e.kind, e.amount])).toEqual([
      ["grant", "10"],
      ["charge", "0.00"],
    ]);
    // Running it again writes nothing; an open period is refused before anything is read.
    expect((await closeAll(b.charging, b.usage, "2026-10", now)).every((r) => r.written === 0)).toBe(true);
    await expect(closeAll(b.charging, b.usage, "2026-11", now)).rejects.toThrow("has not ended");
  });

  it("writes the same ledger closing many accounts in a run, a page at a time, as closing each on its own", async () => {
    const run = await fresh();
    const alone = await fresh();
    for (const b of [run, alone]) {
      await loadPolicy(b.charging, MIXED_POLICY, at("2026-09-01T00:00:00Z"), 0);
      await setAgreement(b.charging, "B", "night", at("2026-10-16T00:00:00Z"));
      await b.events.insertEvents(mixedUsage);
    }
    const accounts = ["A", "B", "C", "D", "E", "F"];
    const close = async (period: string, now: number) => {
      const ran = await closeAccounts(run.charging, run.usage, accounts, period, now, 4);
      const one = [];
      for (const a of accounts) one.push(await closePeriod(alone.charging, alone.usage, a, period, now));
      expect(ran).toEqual(one);
      for (const a of accounts) expect(await run.charging.ledger(a)).toEqual(await alone.charging.ledger(a));
      return ran;
    };
    const october = await close("2026-10", at("2026-11-02T00:00:00Z"));
    // Each closed bill is the one priced offline from the same events alone.
    const pricing = await policyForPeriod(run.charging, "2026-10");
    const { from, to } = pricedRange(pricing.period);
    for (const a of accounts) {
      const offline = priceUsage(
        pricing,
        a,
        await accountAgreements(run.charging, a),
        // One policy version prices October here: one part's usage.
        [usageFromEvents(mixedUsage, a, (pricing.parts[0] as (typeof pricing.parts)[number]).policy, from, to)],
      );
      expect(await billAccount(run.charging, run.usage, a, "2026-10")).toEqual(offline);
    }
    expect(october.map((o) => o.written)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(new Set(october.map((o) => o.total)).size).toBeGreaterThan(3);
    // Late usage of October, charged as adjustments when November closes.
    for (const b of [run, alone]) await b.events.insertEvents(lateUsage);
    const november = await close("2026-11", at("2026-12-02T00:00:00Z"));
    expect(november.filter((o) => o.written === 3).map((o) => o.account)).toEqual(["C", "E"]);
    expect(await close("2026-11", at("2026-12-02T00:00:00Z"))).toEqual(
      november.map((o) => ({ ...o, written: 0, existing: o.written })),
    );
  });

  it("prices by day where prices hold whole days, and by hour the account whose agreement changes inside a day", async () => {
    // Weekend prices start and end at midnight: the run reads October by day. B's agreement changes at noon, so
    // its bill is priced again from its hours; C's changes at midnight and is priced from its days.
    const policy = MIXED_POLICY.replace(
      '{start: "00 00 * * *", end: "00 06 * * *"}',
      '{start: "0 0 * * Sat", end: "0 0 * * Mon"}',
    );
    const run = await fresh();
    const alone = await fresh();
    for (const b of [run, alone]) {
      await loadPolicy(b.charging, policy, at("2026-09-01T00:00:00Z"), 0);
      await setAgreement(b.charging, "B", "night", at("2026-10-16T12:00:00Z"));
      await setAgreement(b.charging, "C", "night", at("2026-10-17T00:00:00Z"));
      await b.events.insertEvents(mixedUsage);
    }
    const accounts = ["A", "B", "C", "D", "E", "F"];
    const now = at("2026-11-02T00:00:00Z");
    const ran = await closeAccounts(run.charging, run.usage, accounts, "2026-10", now, 4);
    const one = [];
    for (const a of accounts) one.push(await closePeriod(alone.charging, alone.usage, a, "2026-10", now));
    expect(ran).toEqual(one);
    const pricing = await policyForPeriod(run.charging, "2026-10");
    const { from, to } = pricedRange(pricing.period);
    for (const a of accounts) {
      expect(await run.charging.ledger(a)).toEqual(await alone.charging.ledger(a));
      const offline = priceUsage(pricing, a, await accountAgreements(run.charging, a), [
        usageFromEvents(mixedUsage, a, (pricing.parts[0] as (typeof pricing.parts)[number]).policy, from, to),
      ]);
      expect(await billAccount(run.charging, run.usage, a, "2026-10")).toEqual(offline);
    }
    // B's line is cut at noon, where its agreement changed.
    const b = await billAccount(run.charging, run.usage, "B", "2026-10");
    const storage = b.lines.find((l) => l.resource === "storage");
    expect(storage?.slices.map((s) => s.start)).toContain("2026-10-16T12:00:00.000Z");
  });

  it("charges late usage of a closed period as an adjustment in the open one, never rewriting the closed bill", async () => {
    const b = await fresh();
    await closePeriod(b.charging, b.usage, "A", "2026-10", at("2026-11-05T00:00:00Z"));
    const closedBill = await billAccount(b.charging, b.usage, "A", "2026-10");
    // Late: 365 GB on s2 from October 16th, 384 hours of October = 192 GB-month = 3.84 more, and 360 in November.
    await b.events.insertEvents([reading("late", "s2", "2026-10-16T00:00:00Z", 365n)]);
    expect(await billAccount(b.charging, b.usage, "A", "2026-10")).toEqual(closedBill);
    expect(await billAccount(b.charging, b.usage, "A", "2026-11")).toMatchObject({
      opening_balance: "-4.88",
      total: "21.60",
      adjustments: [{ period: "2026-10", credits: "3.84" }],
      closing_balance: "-20.32",
    });
    const closed = await closePeriod(b.charging, b.usage, "A", "2026-11", at("2026-12-02T00:00:00Z"));
    expect(closed).toMatchObject({ written: 3, closing_balance: "-20.32" });
    const adjustment = (await b.charging.ledger("A")).find((e) => e.kind === "adjustment");
    expect(adjustment).toMatchObject({
      key: '["adjustment","A","2026-11","2026-10"]',
      period: "2026-11",
      amount: "3.84",
      note: "late usage of closed period 2026-10",
    });
    expect(await closePeriod(b.charging, b.usage, "A", "2026-11", at("2026-12-02T00:00:00Z"))).toMatchObject({
      written: 0,
    });
    // Adjusted once: December opens on November's closing balance with nothing more to adjust.
    expect(await billAccount(b.charging, b.usage, "A", "2026-12")).toMatchObject({
      opening_balance: "-20.32",
      adjustments: [],
    });
  });

  it("bills a stored policy with a time zone by its local periods", async () => {
    const b = await open();
    opened.push(b);
    await loadPolicy(b.charging, `timezone: Europe/Berlin\n${BILLING_POLICY}`, 0, 0);
    await setAgreement(b.charging, "A", "std", 0);
    await b.events.insertEvents([reading("1", "s1", "2026-10-01T00:00:00Z", 730n)]);
    // October in Berlin ends at 23:00 UTC on the 31st; the reading counts from 02:00 local on the 1st: 743 hours.
    await expect(closePeriod(b.charging, b.usage, "A", "2026-10", at("2026-10-31T22:30:00Z"))).rejects.toThrow(
      "it ends at 2026-10-31T23:00:00.000Z",
    );
    expect(await closePeriod(b.charging, b.usage, "A", "2026-10", at("2026-10-31T23:30:00Z"))).toMatchObject({
      total: "14.86",
      closing_balance: "-4.86",
    });
    expect(await billAccount(b.charging, b.usage, "A", "2026-10")).toMatchObject({
      period: { start: "2026-09-30T22:00:00.000Z", end: "2026-10-31T23:00:00.000Z" },
    });
    expect(await accountBalance(b.charging, b.usage, "A", at("2026-11-01T00:30:00Z"))).toMatchObject({
      closed_through: "2026-10",
      open_period: { name: "2026-11", start: "2026-10-31T23:00:00.000Z", end: "2026-11-30T23:00:00.000Z" },
    });
  });

  it("explains a bill with the total it has, and says when late usage makes a closed bill's lines differ", async () => {
    const b = await fresh();
    await closePeriod(b.charging, b.usage, "A", "2026-10", at("2026-11-05T00:00:00Z"));
    const closed = await explainBill(b.charging, b.usage, "A", "2026-10");
    expect(closed).toMatchObject({ account: "A", policy_version: 1, closed: true, total: "14.88", notes: [] });
    expect(closed.bill).toEqual(await billAccount(b.charging, b.usage, "A", "2026-10"));
    // 730 GB held all month: 1 GB-month an hour (a 730-hour month), 744 of them at 0.02.
    expect(closed.lines).toEqual([
      expect.objectContaining({
        resource: "storage",
        quantity: "744",
        credits: "14.88",
        slices: [
          expect.objectContaining({
            agreement: "std",
            agreement_source: "account",
            pricelist: "disk",
            variables: expect.objectContaining({ price: "0.02", volume: "744", unit: "2628000000000000000" }),
            result: "14.88",
            steps: [
              {
                start: "2026-10-01T00:00:00.000Z",
                end: "2026-11-01T00:00:00.000Z",
                hours: 744,
                quantity_per_hour: "1",
                quantity: "744",
                level: "730000000000",
                readings: 1,
              },
            ],
          }),
        ],
      }),
    ]);
    // Late: 365 GB more from October 16th. The closed bill stays; its lines, priced again, come to 3.84 more.
    await b.events.insertEvents([reading("late", "s2", "2026-10-16T00:00:00Z", 365n)]);
    const late = await explainBill(b.charging, b.usage, "A", "2026-10");
    expect(late).toMatchObject({ closed: true, total: "18.72", bill: { total: "14.88" } });
    expect(late.lines[0]?.slices[0]?.steps.map((s) => [s.hours, s.quantity_per_hour, s.level])).toEqual([
      [360, "1", "730000000000"],
      [384, "1.5", "1095000000000"],
    ]);
    expect(late.notes[0]).toMatch(
      /^this period was closed with charges of 14\.88; priced again now, its lines come to 18\.72: the difference/,
    );
    // A period not closed: the explanation's bill is the bill, priced in the same run as the lines.
    const open = await explainBill(b.charging, b.usage, "A", "2026-11");
    expect(open).toMatchObject({ closed: false, total: "21.60", notes: [] });
    expect(open.bill).toEqual(await billAccount(b.charging, b.usage, "A", "2026-11"));
    expect(open.lines.map((l) => l.credits)).toEqual(["21.60"]);
    expect(await b.charging.ledger("A")).toHaveLength(2);
  });
}
