// The explanation of a bill with explicit values: each slice's variables, result and hourly steps, its totals the
// bill's, the step limit, and where the agreement came from.

import { describe, expect, it } from "vitest";
import { type UsageEvent, validateEvent } from "../domain/event.js";
import { type BillJson, chargePeriod } from "./bill.js";
import { Decimal } from "./decimal.js";
import { usageFromEvents } from "./event-usage.js";
import { type ExplainLine, explainPriced, explainText, parseStepLimit } from "./explain.js";
import { parsePeriod } from "./period.js";
import { parsePolicy } from "./policy.js";
import type { AgreementSpan, Priced, PriceInput } from "./price.js";

const T = (s: string) => Date.parse(s);
let seq = 0;
function ev(time: string, metric: string, value: number, instance?: string): UsageEvent {
  const v = validateEvent({ id: `e${++seq}`, server: "s1", account: "acct", time, metric, value, instance });
  if (!v.ok) throw new Error(v.reason);
  return v.event;
}
const GB = 1_000_000_000;

const POLICY = parsePolicy(`
resources:
  - {name: disk, unit: GB-hour, costpolicy: continuous, metric: storage.bytes}
  - {name: puts, unit: request, costpolicy: discrete, metric: requests.put}
pricelists:
  - {name: std, disk: 0.01, puts: 0.001}
  - {name: cheap, overrides: std, disk: 0.005}
algorithms:
  - name: halfnights
    disk: if hour >= 22 or hour lt 6 then price * volume / 2 else price * volume end
agreements:
  - {name: std, pricelist: std}
  - {name: gold, pricelist: cheap}
  - {name: nightalgo, pricelist: std, algorithm: halfnights}
default_agreement: std
`);
const NOV = parsePeriod(POLICY.billing, "2026-11");

/** The bill and its trace from one pricing run, as explainBill takes them. */
function explain(events: UsageEvent[], agreements: AgreementSpan[], limit = 800) {
  let traced: { priced: Priced; input: PriceInput } | undefined;
  const usage = usageFromEvents(events, "acct", POLICY, NOV.start, NOV.end);
  const bill: BillJson = chargePeriod({ policy: POLICY, account: "acct", usage, agreements }, NOV, Decimal.ZERO, {
    onPriced: (priced, input) => {
      traced = { priced, input };
    },
  });
  if (!traced) throw new Error("no trace");
  return { bill, ...explainPriced(traced.priced, traced.input, bill, limit) };
}

/** The sum of decimal strings, exactly. */
const total = (values: string[]) => values.reduce((s, v) => s.add(Decimal.parse(v)), Decimal.ZERO);
const creditsOf = (lines: ExplainLine[]) => total(lines.map((l) => l.credits)).toString();

describe("explaining a bill", () => {
  it("traces a level across an agreement change: each slice's variables, result and hourly steps", () => {
    const { bill, lines, notes } = explain(
      [
        ev("2026-10-20T00:00:00Z", "storage.bytes", 2 * GB),
        ev("2026-11-16T12:30:00Z", "storage.bytes", 4 * GB),
        ev("2026-11-02T10:15:00Z", "requests.put", 300),
        ev("2026-11-02T10:45:00Z", "requests.put", 200),
        ev("2026-11-02T12:00:00Z", "requests.put", 500),
      ],
      [
        { name: "std", from: 0, to: T("2026-11-21T00:00:00Z"), source: "account" },
        { name: "gold", from: T("2026-11-21T00:00:00Z"), to: null, source: "account" },
      ],
    );
    // std until the 21st: 372 h at 2 GB, the hour of the change half 2 GB and half 4 GB (3 GB-hour), 107 h at 4 GB:
    // 1175 GB-hour at 0.01 = 11.75. gold after: 240 h at 4 GB = 960 GB-hour at 0.005 = 4.8.
    expect(lines[0]).toEqual({
      resource: "disk",
      instance: "",
      metric: "storage.bytes",
      costpolicy: "continuous",
      unit: "GB-hour",
      quantity: "2135",
      amount: "16.55",
      credits: "16.55",
      slices: [
        {
          start: "2026-11-01T00:00:00.000Z",
          end: "2026-11-21T00:00:00.000Z",
          agreement: "std",
          agreement_source: "account",
          pricelist: "std",
          price: "0.01",
          algorithm: null,
          expression: "price * volume",
          variables: {
            price: "0.01",
            volume: "1175",
            unit: "3600000000000000",
            hour: "0",
            weekday: "0",
            day: "1",
            month: "11",
          },
          result: "11.75",
          quantity: "1175",
          steps: [
            {
              start: "2026-11-01T00:00:00.000Z",
              end: "2026-11-16T12:00:00.000Z",
              hours: 372,
              quantity_per_hour: "2",
              quantity: "744",
              level: "2000000000",
              readings: 0,
            },
            {
              start: "2026-11-16T12:00:00.000Z",
              end: "2026-11-16T13:00:00.000Z",
              hours: 1,
              quantity_per_hour: "3",
              quantity: "3",
              level: "4000000000",
              readings: 1,
            },
            {
              start: "2026-11-16T13:00:00.000Z",
              end: "2026-11-21T00:00:00.000Z",
              hours: 107,
              quantity_per_hour: "4",
              quantity: "428",
              level: "4000000000",
              readings: 0,
            },
          ],
          steps_cut: 0,
        },
        expect.objectContaining({
          start: "2026-11-21T00:00:00.000Z",
          end: "2026-12-01T00:00:00.000Z",
          agreement: "gold",
          pricelist: "cheap",
          price: "0.005",
          variables: expect.objectContaining({ price: "0.005", volume: "960", day: "21", weekday: "6" }),
          result: "4.8",
          steps: [expect.objectContaining({ hours: 240, quantity: "960", level: "4000000000" })],
        }),
      ],
    });
    // A counter: the hours with events, the hour between them with none, and the rest of their day.
    expect(lines[1]).toMatchObject({ resource: "puts", quantity: "1000", credits: "1.00" });
    expect(lines[1]?.slices[0]?.steps).toEqual([
      expect.objectContaining({ start: "2026-11-02T00:00:00.000Z", hours: 10, quantity: "0", readings: 0 }),
      expect.objectContaining({ start: "2026-11-02T10:00:00.000Z", quantity: "500", level: null, readings: 2 }),
      expect.objectContaining({ start: "2026-11-02T11:00:00.000Z", quantity: "0", readings: 0 }),
      expect.objectContaining({ start: "2026-11-02T12:00:00.000Z", quantity: "500", readings: 1 }),
      expect.objectContaining({ start: "2026-11-02T13:00:00.000Z", hours: 11, quantity: "0", readings: 0 }),
    ]);
    // The explanation's lines are the bill's: the same credits, summing to its total.
    expect(bill.total).toBe("17.55");
    expect(creditsOf(lines)).toBe(bill.total);
    expect(lines.map((l) => l.credits)).toEqual(bill.lines.map((l) => l.credits));
    for (const line of lines) expect(total(line.slices.map((s) => s.result)).toString()).toBe(line.amount);
    expect(notes).toEqual([]);
  });

  it("shows an algorithm that reads the hour evaluated hour by hour, and cuts the steps at the limit", () => {
    const { bill, lines, notes } = explain(
      [ev("2026-11-30T20:00:00Z", "storage.bytes", GB)],
      [{ name: "nightalgo", from: 0, to: null, source: "group" }],
      3,
    );
    // The day's hours before 20:00 with nothing, 20:00 and 21:00 at 0.01 a GB-hour, 22:00 and 23:00 at half that;
    // the first three hours' steps shown.
    const slices = lines[0]?.slices ?? [];
    expect(slices.map((s) => [s.start.slice(11, 13), s.variables.hour, s.result])).toEqual([
      ...Array.from({ length: 20 }, (_, h) => [String(h).padStart(2, "0"), String(h), "0"]),
      ["20", "20", "0.01"],
      ["21", "21", "0.01"],
      ["22", "22", "0.005"],
      ["23", "23", "0.005"],
    ]);
    expect(slices.map((s) => s.steps.length + s.steps_cut)).toEqual(slices.map(() => 1));
    expect(slices.slice(0, 3).map((s) => s.steps.length)).toEqual([1, 1, 1]);
    expect(slices[22]).toMatchObject({
      agreement: "nightalgo",
      agreement_source: "group",
      algorithm: "halfnights",
      expression: "if hour >= 22 or hour lt 6 then price * volume / 2 else price * volume end",
      variables: { price: "0.01", volume: "1", hour: "22", weekday: "1", day: "30", month: "11" },
    });
    expect(lines[0]).toMatchObject({ amount: "0.03", credits: "0.03" });
    expect(bill.total).toBe("0.03");
    expect(notes).toEqual(["disk: 21 of 24 hourly steps not shown (the limit is 3 a line; ask with a higher limit)"]);
  });

  it("says which agreement applied from where: the policy's default when the account has none", () => {
    const { bill, lines } = explain([ev("2026-11-30T23:00:00Z", "storage.bytes", GB)], []);
    expect(lines[0]?.slices[0]).toMatchObject({ agreement: "std", agreement_source: "default", result: "0.01" });
    expect(bill.agreements).toEqual([
      { name: "std", source: "default", start: "2026-11-01T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" },
    ]);
  });

  it("takes a step limit from 1 to 10000 only", () => {
    expect(parseStepLimit(undefined)).toBe(800);
    expect(parseStepLimit("5")).toBe(5);
    for (const bad of ["0", "10001", "-1", "x", "1.5"]) {
      expect(() => parseStepLimit(bad)).toThrow("limit must be a whole number of steps from 1 to 10000");
    }
  });

  it("prints the trace for a terminal", () => {
    const { bill, lines, notes } = explain([ev("2026-11-30T22:00:00Z", "storage.bytes", GB)], []);
    const text = explainText({
      account: "acct",
      period: bill.period,
      policy_version: 3,
      closed: false,
      bill,
      lines,
      total: bill.total,
      step_limit: 800,
      notes,
    });
    expect(text).toContain("policy version 3; how each line was priced:");
    expect(text).toContain(
      "disk (continuous, metric storage.bytes): 2 GB-hour, exactly 0.02, rounded 0.02\n" +
        "  2026-11-30T00:00:00.000Z to 2026-12-01T00:00:00.000Z: agreement std (default), price list std, algorithm default\n" +
        "    price * volume  with price=0.01 volume=2 unit=3600000000000000 hour=0 weekday=1 day=30 month=11  = 0.02\n" +
        "    2026-11-30T00:00:00.000Z to 2026-11-30T22:00:00.000Z: 22 h × 0 = 0 GB-hour, 0 readings\n" +
        "    2026-11-30T22:00:00.000Z to 2026-12-01T00:00:00.000Z: 2 h × 1 = 2 GB-hour, level 1000000000, 1 readings\n",
    );
    expect(text).toContain("lines total 0.02\n");
  });
});
