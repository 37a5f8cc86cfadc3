// Hourly rollups and the pure rules that derive them from events; adapters maintain them incrementally
// and must always agree with `computeRollups`, which is also what `tally rebuild` uses.

import type { UsageEvent } from "./event.js";
import { isHeld, type MetricKind } from "./metric.js";
import { HOUR_MS, hourOf } from "./time.js";

export interface SeriesKey {
  readonly server: string;
  readonly account: string;
  readonly metric: string;
  readonly instance: string;
  /** The event's kept dims (ROLLUP_DIMS): events that differ in them are different series. */
  readonly dims: Dims;
}

export type Dims = Readonly<Record<string, string>>;

/**
 * The dims that reach rollups and current levels, in the order their canonical text lists them. Other dims stay
 * with the stored events only: each kept dim multiplies the series an account can have.
 */
export const ROLLUP_DIMS = ["site", "share", "media", "storage_class", "group", "role"] as const;

const NO_DIMS: Dims = Object.freeze({});

/** The kept dims of an event's dims, as a new object in ROLLUP_DIMS order ({} when none). */
export function keptDims(dims: Dims | null): Dims {
  if (dims === null) return NO_DIMS;
  let kept: Record<string, string> | null = null;
  for (const key of ROLLUP_DIMS) {
    const value = dims[key];
    if (value === undefined) continue;
    kept ??= {};
    kept[key] = value;
  }
  return kept ?? NO_DIMS;
}

/** Kept dims as the text stores key series by: "" for none, else JSON in ROLLUP_DIMS order. */
export function dimsKey(dims: Dims | null): string {
  const kept = keptDims(dims);
  return kept === NO_DIMS ? "" : JSON.stringify(kept);
}

/** The kept dims a stored key stands for. */
export function dimsOfKey(key: string): Dims {
  return key === "" ? NO_DIMS : (JSON.parse(key) as Dims);
}

/**
 * One (account, server, metric, instance, hour). Counters carry `sum`; levels and states carry `last`
 * (the value at the end of the hour), `max` and `integral` (value × milliseconds, over the part of the hour
 * that lies between readings: the time after the latest reading is open and not counted yet). For a state,
 * `integral` is its on-time in milliseconds. `count` is the number of events in the hour.
 */
export interface RollupRow extends SeriesKey {
  readonly kind: MetricKind;
  readonly hour: number;
  readonly count: number;
  readonly sum: bigint | null;
  readonly last: bigint | null;
  readonly max: bigint | null;
  readonly integral: bigint | null;
}

export interface Reading {
  readonly time: number;
  readonly id: string;
  readonly value: bigint;
}

export interface HeldRow {
  readonly hour: number;
  readonly count: number;
  readonly last: bigint;
  readonly max: bigint;
  readonly integral: bigint;
  /** The time of the hour's latest reading, or the hour's start when it has none. */
  readonly lastTime: number;
  /** The id of the hour's latest reading, or "" when it has none. */
  readonly lastId: string;
}

/** Orders readings by time, then by id as UTF-8 bytes (the order SQLite and PostgreSQL "C" use). */
export function compareReadings(a: Reading, b: Reading): number {
  if (a.time !== b.time) return a.time - b.time;
  return compareUtf8(a.id, b.id);
}

/** Orders strings as their UTF-8 bytes (SQLite's BINARY, PostgreSQL's "C"), without encoding them. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.charCodeAt(i);
    if (x === b.charCodeAt(j) && (x < 0xd800 || x > 0xdfff)) {
      i++;
      j++;
      continue;
    }
    // UTF-8 byte order is code point order; a lone surrogate is encoded as U+FFFD, as Buffer.from does.
    const cx = codePointAt(a, i);
    const cy = codePointAt(b, j);
    if (cx !== cy) return cx < cy ? -1 : 1;
    i += cx > 0xffff ? 2 : 1;
    j += cy > 0xffff ? 2 : 1;
  }
  return i < a.length ? 1 : j < b.length ? -1 : 0;
}

function codePointAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return c;
  const d = s.charCodeAt(i + 1);
  if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  return 0xfffd;
}

/**
 * Rollup rows of a held metric for the hours fromHour..toHour. `carry` is the latest reading before fromHour,
 * `readings` are all readings inside the hours, sorted, and `nextTime` is the time of the first reading after
 * toHour (null when there is none: then rows stop at the hour of the latest reading). `open` leaves every row
 * open after its latest reading, its integral stopping there, at lastTime (a store then closes it when it reads:
 * fillHeldGaps); the hours without readings then have no row.
 */
export function heldRows(
  carry: Reading | null,
  readings: readonly Reading[],
  fromHour: number,
  toHour: number,
  nextTime: number | null,
  open = false,
): HeldRow[] {
  const rows: HeldRow[] = [];
  const latest = readings.at(-1) ?? carry;
  if (!latest) return rows;
  const endHour = nextTime === null ? Math.min(toHour, hourOf(latest.time)) : toHour;
  let i = 0;
  let held = carry;
  for (let hour = fromHour; hour <= endHour; hour += HOUR_MS) {
    const end = hour + HOUR_MS;
    const first = readings[i];
    if (!held && !(first && first.time < end)) continue;
    let cursor = hour;
    let count = 0;
    let integral = 0n;
    let max: bigint | null = held && !(first && first.time === hour) ? held.value : null;
    for (let r = readings[i]; r && r.time < end; r = readings[++i]) {
      if (held) integral += held.value * BigInt(r.time - cursor);
      cursor = r.time;
      held = r;
      count++;
      if (max === null || r.value > max) max = r.value;
    }
    if (open && count === 0) continue;
    const closedAt = open ? null : (readings[i]?.time ?? nextTime);
    if (held && closedAt !== null) integral += held.value * BigInt(Math.min(end, closedAt) - cursor);
    if (held && max !== null)
      rows.push({ hour, count, last: held.value, max, integral, lastTime: cursor, lastId: count > 0 ? held.id : "" });
  }
  return rows;
}

/**
 * The row of the hour of reading `r`, which comes after `last`, the series' latest reading (null for a new series):
 * `lastRow` is the row of `last`'s hour, needed only when `r` falls in that same hour. The row is left open at `r`,
 * as heldRows leaves it with `open`; the row of `last`'s hour, when earlier, stays open at `last` until a read
 * closes it, and the hours between them have no row (fillHeldGaps).
 */
export function appendReading(last: Reading | null, lastRow: HeldRow | null, r: Reading): HeldRow {
  const hour = hourOf(r.time);
  if (!last) return { hour, count: 1, last: r.value, max: r.value, integral: 0n, lastTime: r.time, lastId: r.id };
  if (hourOf(last.time) === hour) {
    if (!lastRow || lastRow.hour !== hour) throw new Error("appendReading needs the row of the latest reading's hour");
    return {
      hour,
      count: lastRow.count + 1,
      last: r.value,
      max: r.value > lastRow.max ? r.value : lastRow.max,
      integral: lastRow.integral + last.value * BigInt(r.time - last.time),
      lastTime: r.time,
      lastId: r.id,
    };
  }
  // The level held at last.value from the start of r's hour until r: not at all when r falls on the hour's start.
  return {
    hour,
    count: 1,
    last: r.value,
    max: r.time === hour || r.value > last.value ? r.value : last.value,
    integral: last.value * BigInt(r.time - hour),
    lastTime: r.time,
    lastId: r.id,
  };
}

/** The hours [from, to) of a range query, with what a store knows of each held series just outside it. */
export interface HeldRange {
  readonly from: number;
  readonly to: number;
  /** By seriesId: the series' latest row before `from`. */
  readonly before: ReadonlyMap<string, RollupRow>;
  /** By seriesId: the series has a row at or after `to`. */
  readonly after: ReadonlySet<string>;
}

/**
 * Adds the rows a store may leave out: those of the hours a held series spends wholly between two readings, in
 * each of which the level held all hour at the `last` of the row before. Without a range, the hours between the
 * rows given; with one, also those between the range's ends and the rows just outside it. A store may also keep
 * a held row open after the latest reading of its hour, at `openAt[i]` for rows[i] (NaN for a row not open): such
 * a row is closed to the end of its hour when a row of its series follows it. Sorted as sortRollups.
 */
export function fillHeldGaps(rows: readonly RollupRow[], range?: HeldRange, openAt?: Float64Array): RollupRow[] {
  const out: RollupRow[] = [];
  /** Per held series, its rows' positions in `rows`. */
  const held = new Map<string, number[]>();
  // A store gives a series' rows one after another: its id is made once for them.
  let previous: RollupRow | null = null;
  let previousId = "";
  rows.forEach((r, i) => {
    if (!isHeld(r.kind)) {
      out.push(r);
      return;
    }
    const id = previous !== null && sameSeries(previous, r) ? previousId : seriesId(r);
    previous = r;
    previousId = id;
    const list = held.get(id);
    if (list) list.push(i);
    else held.set(id, [i]);
  });
  for (const id of range?.before.keys() ?? []) if (!held.has(id)) held.set(id, []);
  const gaps = (prev: RollupRow, toHour: number) => {
    const last = prev.last as bigint;
    for (let hour = Math.max(prev.hour + HOUR_MS, range?.from ?? 0); hour < toHour; hour += HOUR_MS) {
      out.push({ ...prev, hour, count: 0, max: last, integral: last * BigInt(HOUR_MS) });
    }
  };
  for (const [id, list] of held) {
    let prev = range?.before.get(id) ?? null;
    const more = range?.after.has(id) ?? false;
    list.forEach((index, i) => {
      const r = rows[index] as RollupRow;
      if (prev) gaps(prev, r.hour);
      const lastTime = openAt?.[index] ?? Number.NaN;
      const followed = i < list.length - 1 || more;
      prev = followed && !Number.isNaN(lastTime) ? closeHour(r, lastTime) : r;
      out.push(prev);
    });
    if (prev && range && more) gaps(prev, range.to);
  }
  return sortRollups(out);
}

/** Whether two rows are of one series, their dims being the same object (as a store's rows of a series share). */
function sameSeries(a: RollupRow, b: RollupRow): boolean {
  return (
    a.dims === b.dims &&
    a.server === b.server &&
    a.account === b.account &&
    a.metric === b.metric &&
    a.instance === b.instance
  );
}

/** An open row closed to the end of its hour: the level held from its latest reading, at lastTime, until then. */
function closeHour(r: RollupRow, lastTime: number): RollupRow {
  const integral = (r.integral as bigint) + (r.last as bigint) * BigInt(r.hour + HOUR_MS - lastTime);
  return { ...r, integral };
}

/** A series' identity as one string; an event's dims may hold more than the kept ones. */
export function seriesId(key: Omit<SeriesKey, "dims"> & { readonly dims: Dims | null }): string {
  return JSON.stringify([key.server, key.account, key.metric, key.instance, dimsKey(key.dims)]);
}

/** The rollups of a set of events, from scratch: the reference every adapter is tested against. */
export function computeRollups(events: readonly UsageEvent[]): RollupRow[] {
  const bySeries = new Map<string, UsageEvent[]>();
  for (const e of events) {
    const id = seriesId(e);
    const list = bySeries.get(id);
    if (list) list.push(e);
    else bySeries.set(id, [e]);
  }
  const rows: RollupRow[] = [];
  for (const list of bySeries.values()) {
    const first = list[0] as UsageEvent;
    const key = {
      server: first.server,
      account: first.account,
      metric: first.metric,
      instance: first.instance,
      dims: keptDims(first.dims),
    };
    if (!isHeld(first.kind)) {
      const hours = new Map<number, { sum: bigint; count: number }>();
      for (const e of list) {
        const h = hours.get(hourOf(e.time)) ?? { sum: 0n, count: 0 };
        h.sum += e.value;
        h.count++;
        hours.set(hourOf(e.time), h);
      }
      for (const [hour, h] of hours) {
        rows.push({
          ...key,
          kind: first.kind,
          hour,
          count: h.count,
          sum: h.sum,
          last: null,
          max: null,
          integral: null,
        });
      }
      continue;
    }
    const readings = [...list].sort(compareReadings);
    const from = hourOf((readings[0] as Reading).time);
    const to = hourOf((readings.at(-1) as Reading).time);
    for (const { hour, count, last, max, integral } of heldRows(null, readings, from, to, null)) {
      rows.push({ ...key, kind: first.kind, hour, count, sum: null, last, max, integral });
    }
  }
  return sortRollups(rows);
}

export function sortRollups<T extends RollupRow>(rows: T[]): T[] {
  return rows.sort(
    (a, b) =>
      compareUtf8(a.server, b.server) ||
      compareUtf8(a.account, b.account) ||
      compareUtf8(a.metric, b.metric) ||
      compareUtf8(a.instance, b.instance) ||
      (a.dims === b.dims ? 0 : compareUtf8(dimsKey(a.dims), dimsKey(b.dims))) ||
      a.hour - b.hour,
  );
}

/** Series account after account (UTF-8 order), then by server, metric, instance and dims. */
export function compareSeriesByAccount(a: SeriesKey, b: SeriesKey): number {
  return (
    compareUtf8(a.account, b.account) ||
    compareUtf8(a.server, b.server) ||
    compareUtf8(a.metric, b.metric) ||
    compareUtf8(a.instance, b.instance) ||
    (a.dims === b.dims ? 0 : compareUtf8(dimsKey(a.dims), dimsKey(b.dims)))
  );
}

/** Rows of several accounts, account after account (UTF-8 order), each account's rows as sortRollups orders them. */
export function sortRollupsByAccount<T extends RollupRow>(rows: T[]): T[] {
  return rows.sort((a, b) => compareSeriesByAccount(a, b) || a.hour - b.hour);
}
