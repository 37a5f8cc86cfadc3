// What a store keeps of a held (level or state) series per UTC day, so that a day is read as one row: a function of
// the day's readings alone, kept up to date as readings arrive, in order or late, and closed into a DayRow when read.

import { DAY_MS, type DayRow, dayOf } from "./day-usage.js";
import type { MetricKind } from "./metric.js";
import type { Reading, SeriesKey } from "./rollup.js";

/**
 * A held series' readings in one UTC day: `integral` is value × ms from the day's first reading, at firstTime, to
 * its latest, at lastTime, whose value is `last`, each reading held until the next. What the day held before its
 * first reading and after its latest depends on other days, and is added when it is read (closeHeldDays).
 */
export interface HeldDay {
  readonly day: number;
  readonly count: number;
  readonly integral: bigint;
  readonly firstTime: number;
  readonly last: bigint;
  readonly lastTime: number;
}

const DAY_MS_BIG = BigInt(DAY_MS);

/**
 * The day of reading `r` once `r` is in it. `day` is what the day held before (null when `r` is its first reading);
 * `before` and `after` are the series' readings just before and after `r` in (time, id) order, in any day (null
 * when there is none).
 */
export function addDayReading(day: HeldDay | null, before: Reading | null, r: Reading, after: Reading | null): HeldDay {
  if (day === null) {
    return { day: dayOf(r.time), count: 1, integral: 0n, firstTime: r.time, last: r.value, lastTime: r.time };
  }
  const beforeIn = before !== null && before.time >= day.day;
  const afterIn = after !== null && after.time < day.day + DAY_MS;
  let integral = day.integral;
  // Between two of the day's readings, r's value replaces before's from r until after.
  if (beforeIn && afterIn) integral += (r.value - before.value) * BigInt(after.time - r.time);
  else if (beforeIn) integral += before.value * BigInt(r.time - before.time);
  else if (afterIn) integral += r.value * BigInt(after.time - r.time);
  else throw new Error("addDayReading needs the readings beside r when its day has others");
  return {
    day: day.day,
    count: day.count + 1,
    integral,
    firstTime: beforeIn ? day.firstTime : r.time,
    last: afterIn ? day.last : r.value,
    lastTime: afterIn ? day.lastTime : r.time,
  };
}

/**
 * Adds to `out` the day rows of one held series over whole days [from, to), as daysOfHours gives them: `held` is
 * the value of its latest reading before `from` (null when it has none), `days` its stored days in [from, to) in
 * order. A day is held from its start at the value before it until its first reading, and from its latest reading
 * to its end; a day without readings holds the value before it all day, and days before the first reading have no row.
 */
export function closeHeldDays(
  key: SeriesKey & { readonly kind: MetricKind },
  held: bigint | null,
  days: readonly HeldDay[],
  from: number,
  to: number,
  out: DayRow[],
): void {
  const { server, account, metric, instance, dims, kind } = key;
  let value = held;
  let i = 0;
  for (let day = from; day < to; day += DAY_MS) {
    const d = days[i];
    if (d?.day === day) {
      i++;
      const lead = value === null ? 0n : value * BigInt(d.firstTime - day);
      const integral = lead + d.integral + d.last * BigInt(day + DAY_MS - d.lastTime);
      out.push({
        server,
        account,
        metric,
        instance,
        dims,
        kind,
        day,
        count: d.count,
        sum: null,
        integral,
        last: d.last,
      });
      value = d.last;
    } else if (value !== null) {
      const integral = value * DAY_MS_BIG;
      out.push({ server, account, metric, instance, dims, kind, day, count: 0, sum: null, integral, last: value });
    }
  }
}
