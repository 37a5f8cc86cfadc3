import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { daysOfHours } from "../domain/day-usage.js";
import { type UsageEvent, validateEvent } from "../domain/event.js";
import { chargePeriod } from "./bill.js";
import { Decimal } from "./decimal.js";
import { usageFromEvents } from "./event-usage.js";
import { parsePeriod } from "./period.js";
import { parsePolicy } from "./policy.js";
import {
  type AccountUsage,
  type AgreementSpan,
  CoarseUsage,
  type PriceInput,
  priceRange,
  pricesWholeDays,
} from "./price.js";
import { AQUARIUM } from "./test-policies.js";

const T = (s: string) => Date.parse(s);
let seq = 0;
function ev(
  time: string,
  metric: string,
  value: number | string,
  extra: { kind?: string; instance?: string; server?: string; account?: string } = {},
): UsageEvent {
  const v = validateEvent({
    id: `e${++seq}`,
    server: extra.server ?? "s1",
    account: extra.account ?? "acct",
    time,
    metric,
    value,
    kind: extra.kind,
    instance: extra.instance,
  });
  if (!v.ok) throw new Error(v.reason);
  return v.event;
}
const GB = 1_000_000_000;
const forever = (name: string): AgreementSpan[] => [{ name, from: 0, to: null, source: "account" }];

const POLICY = parsePolicy(`
resources:
  - {name: disk, unit: GB-hour, costpolicy: continuous, metric: storage.bytes}
  - {name: puts, unit: request, costpolicy: discrete, metric: requests.put}
  - {name: vm, unit: hour, costpolicy: onoff, metric: vm.on, complex: true}
  - {name: setup, unit: credit, costpolicy: once, metric: setup.fee}
pricelists:
  - {name: std, disk: 0.01, puts: 0.001, vm: 0.5, setup: 1}
  - {name: cheap, overrides: std, disk: 0.005}
  - name: nights
    overrides: std
    disk: 0.002
    effective:
      repeat: [{start: "0 22 * * *", end: "0 6 * * *"}]
algorithms:
  - name: halfnights
    disk: if hour >= 22 or hour lt 6 then price * volume / 2 else price * volume end
creditplans:
  - {name: monthly, credits: 100, every: month}
  - {name: weekly, credits: 5, every: "0 0 * * Mon"}
agreements:
  - {name: std, pricelist: std, creditplan: monthly}
  - {name: gold, pricelist: cheap}
  - {name: night, pricelist: nights}
  - {name: nightalgo, pricelist: std, algorithm: halfnights}
  - {name: weekly, pricelist: std, creditplan: weekly}
`);
const NOV = parsePeriod(POLICY.billing, "2026-11");
const DEC = parsePeriod(POLICY.billing, "2026-12");
const bill = (events: UsageEvent[], agreements = forever("std"), period = NOV, policy = POLICY) =>
  chargePeriod(
    { policy, account: "acct", usage: usageFromEvents(events, "acct", policy, period.start, period.end), agreements },
    period,
    Decimal.ZERO,
  );

describe("pricing each cost policy", () => {
  it("continuous: the level held over time, from a reading before the period, to its end", () => {
    const b = bill([
      ev("2026-10-15T00:00:00Z", "storage.bytes", 1 * GB),
      ev("2026-11-01T00:00:00Z", "storage.bytes", 2 * GB),
      ev("2026-11-16T00:00:00Z", "storage.bytes", 4 * GB),
    ]);
    // 2 GB × 360 h + 4 GB × 360 h = 2160 GB-hour at 0.01.
    expect(b.lines).toEqual([
      expect.objectContaining({ resource: "disk", instance: "", quantity: "2160", unit: "GB-hour", credits: "21.60" }),
    ]);
    expect(b.lines[0]?.slices).toHaveLength(1);
    expect(b).toMatchObject({ total: "21.60", credits_granted: "100", opening_balance: "0", closing_balance: "78.40" });
  });
  it("continuous: a change inside an hour is integrated to the millisecond", () => {
    const b = bill([
      ev("2026-11-30T22:00:00Z", "storage.bytes", 1 * GB),
      ev("2026-11-30T23:30:00Z", "storage.bytes", 3 * GB),
    ]);
    // 1 GB for 1.5 h, then 3 GB for 0.5 h = 3 GB-hour.
    expect(b.lines[0]).toMatchObject({ quantity: "3", credits: "0.03" });
  });
  it("discrete: the counters' sum inside the period only", () => {
    const b = bill([
      ev("2026-10-31T23:59:59Z", "requests.put", 7),
      ev("2026-11-03T10:00:00Z", "requests.put", 1000),
      ev("2026-11-20T10:00:00Z", "requests.put", 500),
      ev("2026-12-01T00:00:00Z", "requests.put", 9),
    ]);
    expect(b.lines[0]).toMatchObject({ resource: "puts", quantity: "1500", unit: "request", credits: "1.50" });
  });
  it("onoff: a state on at the month's end is charged to the end and from the next month's start", () => {
    const events = [
      ev("2026-11-30T20:00:00Z", "vm.on", 1, { kind: "state", instance: "vm-a" }),
      ev("2026-12-01T06:00:00Z", "vm.on", 0, { kind: "state", instance: "vm-a" }),
      ev("2026-11-10T00:00:00Z", "vm.on", 1, { kind: "state", instance: "vm-b" }),
      ev("2026-11-10T01:15:00Z", "vm.on", 0, { kind: "state", instance: "vm-b" }),
    ];
    const nov = bill(events);
    expect(nov.lines.map((l) => [l.instance, l.quantity, l.credits])).toEqual([
      ["vm-a", "4", "2.00"],
      ["vm-b", "1.25", "0.62"],
    ]);
    const dec = bill(events, forever("std"), DEC);
    expect(dec.lines.map((l) => [l.instance, l.quantity, l.credits])).toEqual([["vm-a", "6", "3.00"]]);
    expect(dec.lines[0]?.slices[0]).toMatchObject({
      start: "2026-12-01T00:00:00.000Z",
      end: "2026-12-02T00:00:00.000Z",
    });
  });
  it("onoff: an OFF without an ON charges nothing and is reported", () => {
    const b = bill([ev("2026-11-05T00:00:00Z", "vm.on", 0, { kind: "state", instance: "vm-c" })]);
    expect(b.lines).toEqual([]);
    expect(b.notes).toEqual([
      expect.stringContaining(
        "vm.on instance vm-c on server s1 turned off at 2026-11-05T00:00:00.000Z without being on",
      ),
    ]);
  });
  it("once: the event's value, priced", () => {
    const b = bill([ev("2026-11-02T09:00:00Z", "setup.fee", 25, { kind: "counter" })]);
    expect(b.lines[0]).toMatchObject({ resource: "setup", quantity: "25", credits: "25.00" });
  });
  it("counts only the account's events, and each (server, id) once", () => {
    const e = ev("2026-11-03T10:00:00Z", "requests.put", 1000);
    const other = ev("2026-11-03T10:00:00Z", "requests.put", 5, { account: "other" });
    expect(bill([e, e, other]).lines[0]).toMatchObject({ quantity: "1000" });
    expect(() => bill([e, { ...e, value: 2n }])).toThrow(
      `event ${e.id} of server s1 appears twice with different contents`,
    );
  });
  it("refuses a metric whose kind does not fit the cost policy", () => {
    expect(() => bill([ev("2026-11-03T10:00:00Z", "vm.on", 3, { kind: "counter" })])).toThrow(
      "resource vm (costpolicy onoff) charges metric vm.on, a counter here; onoff needs a state",
    );
  });
});

describe("repeat windows, agreements and periods", () => {
  const policy = parsePolicy(AQUARIUM);
  const bw = (time: string, mb: number) => ev(time, "bandwidthup", mb * 1_000_000, { kind: "level" });
  it("prices the Aquarium example: Tuesday 02:00 to Wednesday 02:00 at 0.1, the rest at 0.01", () => {
    const b = bill(
      [bw("2026-10-31T00:00:00Z", 1)],
      forever("scaledbandwidth"),
      parsePeriod(policy.billing, "2026-11"),
      policy,
    );
    // Four windows in November 2026 (3rd, 10th, 17th, 24th): 96 h at 0.1 and 624 h at 0.01.
    expect(b.lines[0]).toMatchObject({ quantity: "720", credits: "15.84" });
    const slices = b.lines[0]?.slices ?? [];
    expect(slices).toHaveLength(9);
    expect(slices.slice(0, 3)).toEqual([
      expect.objectContaining({
        start: "2026-11-01T00:00:00.000Z",
        end: "2026-11-03T02:00:00.000Z",
        pricelist: "default",
        price: "0.01",
        quantity: "50",
        amount: "0.5",
      }),
      expect.objectContaining({
        start: "2026-11-03T02:00:00.000Z",
        end: "2026-11-04T02:00:00.000Z",
        pricelist: "everyTue2",
        price: "0.1",
        quantity: "24",
        amount: "2.4",
      }),
      expect.objectContaining({ start: "2026-11-04T02:00:00.000Z", pricelist: "default" }),
    ]);
    expect(b.agreement).toBe("scaledbandwidth");
  });
  it("carries a window opened before the range into it", () => {
    const input: PriceInput = {
      policy,
      account: "acct",
      usage: usageFromEvents([bw("2026-10-31T00:00:00Z", 1)], "acct", policy, NOV.start, NOV.end),
      agreements: forever("scaledbandwidth"),
    };
    const got = priceRange(input, T("2026-11-04T00:00:00Z"), T("2026-11-05T00:00:00Z"));
    expect(got.lines[0]?.slices.map((s) => [s.pricelist, (s.end - s.start) / 3_600_000])).toEqual([
      ["everyTue2", 2],
      ["default", 22],
    ]);
  });
  it("a repeat window of the agreement's list, overriding its parent at night", () => {
    const b = bill([ev("2026-10-31T00:00:00Z", "storage.bytes", 10 * GB)], forever("night"));
    // Nights 22:00–06:00, 8 h a day for 30 days: 2400 GB-hour at 0.002, the other 4800 at 0.01.
    expect(b.lines[0]).toMatchObject({ quantity: "7200", credits: "52.80" });
  });
  it("an algorithm that reads the hour prices each hour on its own", () => {
    const b = bill([ev("2026-10-31T00:00:00Z", "storage.bytes", 10 * GB)], forever("nightalgo"));
    expect(b.lines[0]?.slices).toHaveLength(720);
    // 2400 GB-hour at half of 0.01, 4800 at 0.01.
    expect(b.lines[0]).toMatchObject({ credits: "60.00" });
    expect(b.lines[0]?.slices[0]).toMatchObject({ algorithm: "halfnights", amount: "0.05" });
  });
  it("an agreement change mid-period splits the line; a change inside an hour takes effect at the next hour", () => {
    const agreements: AgreementSpan[] = [
      { name: "std", from: 0, to: T("2026-11-16T00:30:00Z"), source: "account" },
      { name: "gold", from: T("2026-11-16T00:30:00Z"), to: null, source: "account" },
    ];
    const b = bill([ev("2026-10-31T00:00:00Z", "storage.bytes", 10 * GB)], agreements);
    // 361 h × 10 GB at 0.01 (the hour of the change is std's) + 359 h × 10 GB at 0.005.
    expect(b.lines[0]?.slices.map((s) => [s.agreement, s.pricelist, s.quantity, s.amount])).toEqual([
      ["std", "std", "3610", "36.1"],
      ["gold", "cheap", "3590", "17.95"],
    ]);
    expect(b).toMatchObject({ total: "54.05", credits_granted: "100", closing_balance: "45.95" });
    expect(b.agreements.map((a) => [a.name, a.start, a.end])).toEqual([
      ["std", "2026-11-01T00:00:00.000Z", "2026-11-16T01:00:00.000Z"],
      ["gold", "2026-11-16T01:00:00.000Z", "2026-12-01T00:00:00.000Z"],
    ]);
  });
  it("the account's own agreement wins over its group's, which wins over the policy's default", () => {
    const withDefault = parsePolicy(`${AQUARIUM}default_agreement: scaledbandwidth\n`);
    const input: PriceInput = {
      policy: withDefault,
      account: "acct",
      usage: usageFromEvents([bw("2026-10-31T00:00:00Z", 1)], "acct", withDefault, NOV.start, NOV.end),
      agreements: [],
    };
    expect(priceRange(input, NOV.start, NOV.end).agreements.map((a) => a.source)).toEqual(["default"]);
    expect(() => priceRange({ ...input, policy }, NOV.start, NOV.end)).toThrow(
      "has no agreement at 2026-11-01T00:00:00.000Z",
    );
  });
  it("grants credits at each time of a cron credit plan", () => {
    const b = bill([], forever("weekly"));
    // Mondays of November 2026: the 2nd, 9th, 16th, 23rd and 30th.
    expect(b.grants.map((g) => g.at.slice(0, 10))).toEqual([
      "2026-11-02",
      "2026-11-09",
      "2026-11-16",
      "2026-11-23",
      "2026-11-30",
    ]);
    expect(b).toMatchObject({ credits_granted: "25", total: "0.00", closing_balance: "25.00" });
  });
  it("months starting on a chosen day, and weeks from an anchor", () => {
    const third = parsePolicy("billing: {period: month, start_day: 3}\n");
    expect(parsePeriod(third.billing, "2026-12")).toMatchObject({
      start: T("2026-12-03T00:00:00Z"),
      end: T("2027-01-03T00:00:00Z"),
    });
    const weeks = parsePolicy('billing: {period: weeks, weeks: 2, anchor: "2026-11-02T00:00:00Z"}\n');
    expect(parsePeriod(weeks.billing, "2026-11-16")).toMatchObject({
      start: T("2026-11-16T00:00:00Z"),
      end: T("2026-11-30T00:00:00Z"),
    });
    expect(() => parsePeriod(weeks.billing, "2026-11-09")).toThrow("not the start date of a 2-week period");
    expect(() => parsePeriod(POLICY.billing, "2026-13")).toThrow('period "2026-13" is not a month');
  });
});

describe("pricing in a time zone", () => {
  const zoned = (zone: string) =>
    parsePolicy(`
timezone: ${zone}
resources:
  - {name: disk, unit: GB-hour, costpolicy: continuous, metric: storage.bytes}
  - {name: puts, unit: request, costpolicy: discrete, metric: requests.put}
pricelists:
  - {name: std, disk: 0.01, puts: 0.01}
  - name: office
    overrides: std
    disk: 0.03
    effective:
      repeat: [{start: "0 9 * * Mon-Fri", end: "0 17 * * Mon-Fri"}]
algorithms:
  - name: nights
    puts: if hour >= 22 or hour < 6 then price * volume / 2 else price * volume end
creditplans:
  - {name: monthly, credits: 100, every: month}
  - {name: weekly, credits: 5, every: "0 0 * * Mon"}
agreements:
  - {name: std, pricelist: std, creditplan: monthly}
  - {name: office, pricelist: office}
  - {name: nights, pricelist: std, algorithm: nights, creditplan: weekly}
`);
  const BERLIN = zoned("Europe/Berlin");
  const UTC_POLICY = zoned("UTC");
  const NEW_YORK = zoned("America/New_York");
  const billIn = (policy: typeof POLICY, name: string, events: UsageEvent[], agreement = "std") =>
    bill(events, forever(agreement), parsePeriod(policy.billing, name), policy);

  it("a month in Berlin starts and ends an hour before the UTC month, and its bill differs by that hour", () => {
    const events = [
      ev("2026-09-01T00:00:00Z", "storage.bytes", 1 * GB),
      ev("2026-11-15T00:00:00Z", "storage.bytes", 2 * GB),
    ];
    // UTC: 1 GB × 336 h + 2 GB × 384 h = 1104 GB-hour. Berlin: one hour more at 1 GB, one less at 2 GB: 1103.
    expect(billIn(UTC_POLICY, "2026-11", events)).toMatchObject({ lines: [{ quantity: "1104", credits: "11.04" }] });
    const berlin = billIn(BERLIN, "2026-11", events);
    expect(berlin).toMatchObject({
      period: { start: "2026-10-31T23:00:00.000Z", end: "2026-11-30T23:00:00.000Z" },
      lines: [{ quantity: "1103", credits: "11.03" }],
      grants: [{ at: "2026-10-31T23:00:00.000Z", credits: "100" }],
    });
  });
  it("a month across a DST change has 745 or 743 hours", () => {
    const events = [ev("2026-01-01T00:00:00Z", "storage.bytes", 1 * GB)];
    expect(billIn(BERLIN, "2026-10", events)).toMatchObject({ lines: [{ quantity: "745", credits: "7.45" }] });
    expect(billIn(BERLIN, "2026-03", events)).toMatchObject({ lines: [{ quantity: "743", credits: "7.43" }] });
    expect(billIn(UTC_POLICY, "2026-10", events)).toMatchObject({ lines: [{ quantity: "744", credits: "7.44" }] });
  });
  it("a weekday repeat window is open at local office hours in New York", () => {
    const events = [ev("2026-10-01T00:00:00Z", "storage.bytes", 1 * GB)];
    // November 2026 in New York is 721 hours (the clocks go back on the 1st); 21 weekdays × 8 office hours at 0.03.
    const b = billIn(NEW_YORK, "2026-11", events, "office");
    expect(b).toMatchObject({ lines: [{ quantity: "721", credits: "10.57" }] });
    const slices = b.lines[0]?.slices ?? [];
    expect(slices.slice(0, 3)).toMatchObject([
      { start: "2026-11-01T04:00:00.000Z", end: "2026-11-02T14:00:00.000Z", pricelist: "std", quantity: "34" },
      { start: "2026-11-02T14:00:00.000Z", end: "2026-11-02T22:00:00.000Z", pricelist: "office", quantity: "8" },
      { start: "2026-11-02T22:00:00.000Z", end: "2026-11-03T14:00:00.000Z", pricelist: "std", quantity: "16" },
    ]);
    // The same windows in UTC: 720 hours, 168 of them at office prices.
    expect(billIn(UTC_POLICY, "2026-11", events, "office")).toMatchObject({ lines: [{ credits: "10.56" }] });
  });
  it("the expression's hour is local, and a cron credit plan grants at local midnight", () => {
    const events = [ev("2026-11-10T21:30:00Z", "requests.put", 100), ev("2026-11-10T05:30:00Z", "requests.put", 300)];
    // Berlin: 100 at 22:30 (night, half price) and 300 at 06:30 (day): 0.50 + 3.00. UTC: 1.00 + 1.50.
    const berlin = billIn(BERLIN, "2026-11", events, "nights");
    expect(berlin).toMatchObject({ total: "3.50", credits_granted: "25" });
    expect(berlin.grants.map((g) => g.at)).toEqual([
      "2026-11-01T23:00:00.000Z",
      "2026-11-08T23:00:00.000Z",
      "2026-11-15T23:00:00.000Z",
      "2026-11-22T23:00:00.000Z",
      "2026-11-29T23:00:00.000Z",
    ]);
    expect(billIn(UTC_POLICY, "2026-11", events, "nights")).toMatchObject({ total: "2.50" });
  });
  it("splitting a period across a DST change into two ranges gives the same exact total per line", () => {
    const OCT = parsePeriod(BERLIN.billing, "2026-10");
    const HOUR = 3_600_000;
    const arb = fc.array(
      fc.record({
        at: fc.integer({ min: -48 * HOUR, max: OCT.end - OCT.start - 1 }),
        disk: fc.boolean(),
        value: fc.integer({ min: 0, max: 5 * GB }),
      }),
      { maxLength: 25 },
    );
    fc.assert(
      fc.property(arb, fc.integer({ min: 1, max: 744 }), fc.constantFrom("office", "nights"), (raw, cut, agreement) => {
        const events = raw.map((r) =>
          ev(new Date(OCT.start + r.at).toISOString(), r.disk ? "storage.bytes" : "requests.put", r.value),
        );
        const input: PriceInput = {
          policy: BERLIN,
          account: "acct",
          usage: usageFromEvents(events, "acct", BERLIN, OCT.start, OCT.end),
          agreements: forever(agreement),
        };
        const at = OCT.start + cut * HOUR;
        const sum = (ranges: [number, number][]) => {
          const out = new Map<string, string>();
          const totals = new Map<string, ReturnType<typeof priceRange>["lines"][number]["amount"]>();
          for (const [a, b] of ranges)
            for (const l of priceRange(input, a, b).lines) {
              const prev = totals.get(l.resource);
              totals.set(l.resource, prev ? prev.add(l.amount) : l.amount);
            }
          // A ratio is kept in lowest terms, so equal amounts print alike.
          for (const [k, v] of totals) out.set(k, `${v.num}/${v.den}`);
          return out;
        };
        expect(
          sum([
            [OCT.start, at],
            [at, OCT.end],
          ]),
        ).toEqual(sum([[OCT.start, OCT.end]]));
      }),
      { numRuns: 40 },
    );
  });
});

describe("properties", () => {
  const HOUR = 3_600_000;
  const arbEvents = fc.array(
    fc.record({
      hourOffset: fc.integer({ min: -48, max: 24 * 30 - 1 }),
      ms: fc.integer({ min: 0, max: HOUR - 1 }),
      which: fc.constantFrom("disk", "puts", "vm"),
      value: fc.integer({ min: 0, max: 5 * GB }),
      instance: fc.constantFrom("a", "b"),
    }),
    { maxLength: 30 },
  );
  const toEvents = (raw: { hourOffset: number; ms: number; which: string; value: number; instance: string }[]) =>
    raw.map((r) => {
      const time = new Date(NOV.start + r.hourOffset * HOUR + r.ms).toISOString();
      if (r.which === "disk") return ev(time, "storage.bytes", r.value);
      if (r.which === "puts") return ev(time, "requests.put", r.value);
      return ev(time, "vm.on", r.value % 2, { kind: "state", instance: r.instance });
    });

  it("splitting a period into two ranges gives the same exact total per line", () => {
    fc.assert(
      fc.property(arbEvents, fc.integer({ min: 1, max: 24 * 30 - 1 }), (raw, cut) => {
        const input: PriceInput = {
          policy: POLICY,
          account: "acct",
          usage: usageFromEvents(toEvents(raw), "acct", POLICY, NOV.start, NOV.end),
          agreements: forever("night"),
        };
        const at = NOV.start + cut * HOUR;
        const sum = (p: ReturnType<typeof priceRange>) =>
          new Map(p.lines.map((l) => [`${l.resource}/${l.instance}`, l.amount]));
        const whole = sum(priceRange(input, NOV.start, NOV.end));
        const a = sum(priceRange(input, NOV.start, at));
        const b = sum(priceRange(input, at, NOV.end));
        for (const [key, amount] of whole) {
          const parts = [a.get(key), b.get(key)].filter((x) => x !== undefined);
          const total = parts.reduce((x, y) => x.add(y), parts[0]?.sub(parts[0]) ?? amount.sub(amount));
          expect(total.cmp(amount), key).toBe(0);
        }
      }),
      { numRuns: 60 },
    );
  });
  it("says whether a policy prices whole UTC days, which usage read by day can price", () => {
    const weekends = parsePolicy(`
resources:
  - {name: disk, unit: GB-hour, costpolicy: continuous, metric: storage.bytes}
pricelists:
  - {name: std, disk: 0.01}
  - name: weekend
    overrides: std
    disk: 0.005
    effective:
      repeat: [{start: "0 0 * * Sat", end: "0 0 * * Mon"}]
agreements:
  - {name: std, pricelist: std}
  - {name: weekend, pricelist: weekend}
`);
    expect(pricesWholeDays(weekends, NOV.start, NOV.end)).toBe(true);
    // A window from 22:00 to 06:00, and an algorithm that reads the hour, change prices inside a day.
    expect(pricesWholeDays(POLICY, NOV.start, NOV.end)).toBe(false);
    expect(pricesWholeDays(parsePolicy(AQUARIUM), NOV.start, NOV.end)).toBe(false);
  });
  it("a bill priced from usage read by day is the bill priced by hour, or asks for hours where prices change in a day", () => {
    const arbAgreements = fc.oneof(
      fc.constantFrom("std", "gold", "night", "nightalgo").map(forever),
      fc.tuple(fc.integer({ min: 1, max: 24 * 30 - 1 }), fc.boolean()).map(([hour, midnight]) => {
        const at = NOV.start + (midnight ? hour - (hour % 24) : hour) * HOUR;
        return [
          { name: "std", from: 0, to: at, source: "account" as const },
          { name: "gold", from: at, to: null, source: "account" as const },
        ];
      }),
    );
    let byDay = 0;
    fc.assert(
      fc.property(arbEvents, arbAgreements, (raw, agreements) => {
        const hourly = usageFromEvents(toEvents(raw), "acct", POLICY, NOV.start, NOV.end);
        const daily: AccountUsage = {
          rows: [],
          days: daysOfHours(hourly.rows, NOV.start, NOV.end),
          notes: hourly.notes,
        };
        const expected = chargePeriod(
          { policy: POLICY, account: "acct", usage: hourly, agreements },
          NOV,
          Decimal.ZERO,
        );
        const midday = agreements.some((a) => a.to !== null && a.to % (24 * HOUR) !== 0);
        const coarse = midday || ["night", "nightalgo"].includes(agreements[0]?.name as string);
        try {
          const got = chargePeriod({ policy: POLICY, account: "acct", usage: daily, agreements }, NOV, Decimal.ZERO);
          expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
          byDay++;
        } catch (e) {
          if (!(e instanceof CoarseUsage) || !coarse) throw e;
        }
      }),
      { numRuns: 150 },
    );
    expect(byDay).toBeGreaterThan(50);
  });
  it("shuffling the events changes nothing", () => {
    fc.assert(
      fc.property(
        arbEvents.chain((raw) => fc.tuple(fc.constant(toEvents(raw)), fc.infiniteStream(fc.nat()))),
        ([events, stream]) => {
          const shuffled = [...events];
          const it = stream[Symbol.iterator]();
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = (it.next().value as number) % (i + 1);
            [shuffled[i], shuffled[j]] = [shuffled[j] as UsageEvent, shuffled[i] as UsageEvent];
          }
          expect(JSON.stringify(bill(shuffled, forever("night")))).toBe(JSON.stringify(bill(events, forever("night"))));
        },
      ),
      { numRuns: 60 },
    );
  });
});
