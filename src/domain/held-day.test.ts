import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DAY_MS, type DayRow, dayOf, daysOfHours, rollupsHeldUntil } from "./day-usage.js";
import type { UsageEvent } from "./event.js";
import { addDayReading, closeHeldDays, type HeldDay } from "./held-day.js";
import { compareReadings, type Reading } from "./rollup.js";

const T0 = Date.UTC(2026, 10, 1);
const key = { server: "s1", account: "a1", metric: "storage.bytes", instance: "", dims: {}, kind: "level" } as const;

/** The days of readings that arrive in the order given, each added beside its neighbours among those before it. */
function daysOf(arrivals: readonly Reading[]): HeldDay[] {
  const readings: Reading[] = [];
  const days = new Map<number, HeldDay>();
  for (const r of arrivals) {
    let i = readings.length;
    while (i > 0 && compareReadings(readings[i - 1] as Reading, r) > 0) i--;
    const day = days.get(dayOf(r.time)) ?? null;
    days.set(dayOf(r.time), addDayReading(day, readings[i - 1] ?? null, r, readings[i] ?? null));
    readings.splice(i, 0, r);
  }
  return [...days.values()].sort((a, b) => a.day - b.day);
}

/** What a store reads: the days in [from, to), closed from the latest reading before `from`. */
function readDays(arrivals: readonly Reading[], from: number, to: number): DayRow[] {
  const before = [...arrivals].filter((r) => r.time < from).sort(compareReadings);
  const days = daysOf(arrivals).filter((d) => d.day >= from && d.day < to);
  const out: DayRow[] = [];
  closeHeldDays(key, before.at(-1)?.value ?? null, days, from, to, out);
  return out;
}

describe("held days", () => {
  it("close, whatever order their readings arrive in, to the day rows of the hourly rollups", () => {
    const arbReading = fc.record({
      time: fc.oneof(
        fc.integer({ min: 0, max: 4 * DAY_MS }),
        fc.integer({ min: 0, max: 4 }).map((d) => d * DAY_MS),
      ),
      value: fc.bigInt({ min: 0n, max: 2n ** 70n }),
    });
    fc.assert(
      fc.property(
        fc.array(arbReading, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: -1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        (raw, fromDay, days) => {
          const arrivals = raw.map((r, i) => ({ id: `e${i}`, time: T0 + r.time, value: r.value }));
          const from = T0 + fromDay * DAY_MS;
          const to = from + days * DAY_MS;
          const events: UsageEvent[] = arrivals.map((r) => ({ ...key, dims: null, ...r }));
          const expected = daysOfHours(rollupsHeldUntil(events, to), from, to);
          // Readings at or after `to` do not count: the days read are before them.
          expect(readDays(arrivals, from, to)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
