// The billing run and balance on a real backend, the same on SQLite and PostgreSQL: what closing writes to the
// ledger, replays, a run cut short, the balance, late usage of a closed period, and the explanation of a bill.

import { afterEach, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { event } from "../store/contract.js";
import { accountBalance, billAccount, closeAccounts, closePeriod } from "./billing-run.js";
import { loadPolicy, setAgreement } from "./charge-account.js";
import type { ChargingStore } from "./charging-store.js";
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

const GB = 1_000_000_000n;
const at = (iso: string) => Date.parse(iso);

const reading = (id: string, server: string, time: string, gb: bigint, account = "A") =>
  event({ id, server, account, time: at(time), metric: "storage.bytes", kind: "level", value: gb * GB });

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
    // A run that stops at its second account's write, as a crash would: B's batch is not written at all.
    let calls = 0;
    const failing: ChargingStore = Object.create(b.charging, {
      appendLedger: {
        value: async (entries: Parameters<ChargingStore["appendLedger"]>[0]) => {
          calls++;
          if (calls === 2) throw new Error("the process stopped here");
          return b.charging.appendLedger(entries);
        },
      },
    });
    await expect(closeAccounts(failing, b.usage, ["A", "B"], "2026-10", now)).rejects.toThrow("stopped here");
    expect((await b.charging.ledger("A")).length).toBe(2);
    expect(await b.charging.ledger("B")).toEqual([]);
    const rerun = await closeAccounts(b.charging, b.usage, ["A", "B"], "2026-10", now);
    expect(rerun.map((r) => [r.account, r.written, r.total])).toEqual([
      ["A", 0, "14.88"],
      ["B", 2, "7.44"],
    ]);
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
