// Usage by UTC day: what a store keeps beside its hourly rollups so that a month of a series is read as 31 rows,
// not 744. A day's row is the sum of the series' hours in it, the hours between readings filled and a level or
// state's latest reading held to the end of what is read, as a bill prices them.

import { validation } from "./errors.js";
import type { UsageEvent } from "./event.js";
import { isHeld, type MetricKind } from "./metric.js";
import {
  compareReadings,
  compareSeriesByAccount,
  computeRollups,
  heldRows,
  keptDims,
  type Reading,
  type RollupRow,
  type SeriesKey,
  seriesId,
} from "./rollup.js";
import { HOUR_MS, hourOf, isoTime } from "./time.js";

export const DAY_MS = 24 * HOUR_MS;
const DAY_MS_BIG = BigInt(DAY_MS);

/** The UTC day a time falls in, as the epoch ms of its start. */
export const dayOf = (t: number) => t - (((t % DAY_MS) + DAY_MS) % DAY_MS);

/**
 * One series over one UTC day. Counters carry `sum`; levels and states carry `integral` (value × ms over the part
 * of the day after the series' first reading, each reading held until the next and the latest until the end of
 * what was read) and `last`, the value at the day's end (or at the end of what was read). `count` is the events
 * in the day.
 */
export interface DayRow extends SeriesKey {
  readonly kind: MetricKind;
  readonly day: number;
  readonly count: number;
  readonly sum: bigint | null;
  readonly integral: bigint | null;
  readonly last: bigint | null;
}

/** A series' day row, its key's fields copied rather than spread: a read makes many, and a spread costs more. */
export function dayRow(
  key: SeriesKey & { readonly kind: MetricKind },
  day: number,
  count: number,
  values: { readonly sum: bigint | null; readonly integral: bigint | null; readonly last: bigint | null },
): DayRow {
  const { server, account, metric, instance, dims, kind } = key;
  return {
    server,
    account,
    metric,
    instance,
    dims,
    kind,
    day,
    count,
    sum: values.sum,
    integral: values.integral,
    last: values.last,
  };
}

/**
 * Hourly rollups of the events, as the store keeps them, except that a level or state's latest reading holds until
 * `until` and every hour between readings has its row: a level is a step function held until the next reading.
 * Events at or after `until` are left out.
 */
export function rollupsHeldUntil(events: readonly UsageEvent[], until: number): RollupRow[] {
  const before = events.filter((e) => e.time < until);
  const rows = computeRollups(before.filter((e) => !isHeld(e.kind)));
  const held = new Map<string, UsageEvent[]>();
  for (const e of before) {
    if (!isHeld(e.kind)) continue;
    const id = seriesId(e);
    const list = held.get(id);
    if (list) list.push(e);
    else held.set(id, [e]);
  }
  for (const list of held.values()) {
    const first = list[0] as UsageEvent;
    const readings: Reading[] = list.map((e) => ({ time: e.time, id: e.id, value: e.value })).sort(compareReadings);
    const fromHour = hourOf((readings[0] as Reading).time);
    for (const r of heldRows(null, readings, fromHour, hourOf(until - 1), until)) {
      rows.push({
        server: first.server,
        account: first.account,
        metric: first.metric,
        instance: first.instance,
        dims: keptDims(first.dims),
        kind: first.kind,
        hour: r.hour,
        count: r.count,
        sum: null,
        last: r.last,
        max: r.max,
        integral: r.integral,
      });
    }
  }
  return rows;
}

/**
 * The day rows of complete hourly rows (every hour of a held series present, as rollupsHeldUntil gives them) over
 * the whole days [from, to), sorted as sortDays: the reference every store's daily read is tested against.
 */
export function daysOfHours(rows: readonly RollupRow[], from: number, to: number): DayRow[] {
  const days = new Map<string, { -readonly [K in keyof DayRow]: DayRow[K] }>();
  const inOrder = [...rows].filter((r) => r.hour >= from && r.hour < to).sort((a, b) => a.hour - b.hour);
  for (const r of inOrder) {
    const day = dayOf(r.hour);
    const key = `${seriesId(r)} ${day}`;
    const d = days.get(key);
    const held = isHeld(r.kind);
    if (!d) {
      const values = held
        ? { sum: null, integral: r.integral, last: r.last }
        : { sum: r.sum, integral: null, last: null };
      days.set(key, dayRow(r, day, r.count, values));
      continue;
    }
    d.count += r.count;
    if (held) {
      d.integral = (d.integral as bigint) + (r.integral as bigint);
      d.last = r.last;
    } else d.sum = (d.sum as bigint) + (r.sum as bigint);
  }
  return sortDays([...days.values()]);
}

/**
 * Adds to `out` one series' day rows over [from, to), in day order, with the whole days a level or state spends
 * between readings added: each holds all day the `last` of the row before it, the first that of `before`, the
 * series' latest row before `from` (null: none). The rows given are those of days with readings, each closed at
 * its day's end.
 */
export function fillHeldDays(
  before: DayRow | null,
  rows: readonly DayRow[],
  from: number,
  to: number,
  out: DayRow[],
): void {
  let prev = before;
  const fill = (until: number) => {
    const last = prev?.last ?? null;
    if (prev === null || last === null) return;
    // The day's integral made once: a month of a series is many such rows.
    const values = { sum: null, integral: last * DAY_MS_BIG, last };
    for (let day = Math.max(prev.day + DAY_MS, from); day < until; day += DAY_MS)
      out.push(dayRow(prev, day, 0, values));
  };
  for (const r of rows) {
    fill(r.day);
    out.push(r);
    prev = r;
  }
  fill(to);
}

/** Day rows account after account (UTF-8 order), then by server, metric, instance, dims and day. */
export function sortDays<T extends DayRow>(rows: T[]): T[] {
  return rows.sort((a, b) => compareSeriesByAccount(a, b) || a.day - b.day);
}

/** Refuses a range of days that does not start and end on a UTC day's start. */
export function checkWholeDays(from: number, to: number): void {
  if (from !== dayOf(from) || to !== dayOf(to) || to < from) {
    throw validation(
      `a range read by day must be whole days (from and to at 00:00Z, UTC, to not before from); got ${isoTime(from)} to ${isoTime(to)}`,
    );
  }
}
