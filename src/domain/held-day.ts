// What a store keeps of a held (level or state) series per UTC day, so that a day is read as one row: a function of
// the day's readings alone, kept up to date as readings arrive, in order or late, and closed into a DayRow when read.

import { DAY_MS, type DayRow, dayOf, dayRow, fillHeldDays } from "./day-usage.js";
import type { MetricKind } from "./metric.js";
import type { Reading, SeriesKey } from "./rollup.js";

/**
 * A held series' readings in one UTC day: `integral` is value × ms from the day's first reading, at firstTime, to the
 * day's end, each reading held until the next and the latest, whose value is `last`, until the end. What the day held
 * before its first reading depends on the days before, and is added when it is read (closeHeldDays).
 */
export interface HeldDay {
  readonly day: number;
  readonly count: number;
  readonly integral: bigint;
  readonly firstTime: number;
  readonly last: bigint;
}

/**
 * The day of reading `r` once `r` is in it. `day` is what the day held before (null when `r` is its first reading);
 * `before` and `after` are the series' readings just before and after `r` in (time, id) order, in any day (null
 * when there is none).
 */
export function addDayReading(day: HeldDay | null, before: Reading | null, r: Reading, after: Reading | null): HeldDay {
  const start = dayOf(r.time);
  const end = start + DAY_MS;
  const beforeIn = day !== null && before !== null && before.time >= start;
  const afterIn = day !== null && after !== null && after.time < end;
  if (day !== null && !beforeIn && !afterIn) throw new Error("addDayReading needs the readings beside r in its day");
  // From r until the day's next reading or its end, r's value replaces what was held there (nothing, before the
  // day's first reading).
  const held = beforeIn ? (before as Reading).value : 0n;
  const integral =
    (day?.integral ?? 0n) + (r.value - held) * BigInt((afterIn ? (after as Reading).time : end) - r.time);
  return {
    day: start,
    count: (day?.count ?? 0) + 1,
    integral,
    firstTime: beforeIn ? (day as HeldDay).firstTime : r.time,
    last: afterIn ? (day as HeldDay).last : r.value,
  };
}

/**
 * Adds to `out` the day rows of one held series over whole days [from, to), as daysOfHours gives them: `held` is
 * the value of its latest reading before `from` (null when it has none), `days` its stored days in [from, to) in
 * order. A day holds the value before it from its start until its first reading; a day without readings holds it
 * all day, and days before the first reading have no row.
 */
export function closeHeldDays(
  key: SeriesKey & { readonly kind: MetricKind },
  held: bigint | null,
  days: readonly HeldDay[],
  from: number,
  to: number,
  out: DayRow[],
): void {
  let value = held;
  const closed: DayRow[] = [];
  for (const d of days) {
    const integral = value === null ? d.integral : value * BigInt(d.firstTime - d.day) + d.integral;
    closed.push(dayRow(key, d.day, d.count, { sum: null, integral, last: d.last }));
    value = d.last;
  }
  const before = held === null ? null : dayRow(key, from - DAY_MS, 0, { sum: null, integral: null, last: held });
  fillHeldDays(before, closed, from, to, out);
}
