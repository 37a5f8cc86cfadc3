// Five-field cron expressions (minute hour day-of-month month day-of-week, local time in the policy's zone) and
// the repeating windows they open and close, as price lists and algorithms write them:
// {start: "00 02 * * Tue", end: "00 02 * * Wed"}.

import { validation } from "../domain/errors.js";
import { UTC, type Zone } from "./zone.js";

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

export interface Cron {
  readonly text: string;
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly weekdays: ReadonlySet<number>;
  readonly anyDay: boolean;
  readonly anyWeekday: boolean;
}

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

function field(text: string, cron: string, name: string, lo: number, hi: number, names: string[] = []): number[] {
  const out = new Set<number>();
  const value = (v: string) => {
    const i = names.indexOf(v.toLowerCase().slice(0, 3));
    const n = i >= 0 && v.length === 3 ? i + lo : /^\d+$/.test(v) ? Number(v) : Number.NaN;
    // Day of week 7 is Sunday, as in most crons.
    const m = name === "day of week" && n === 7 ? 0 : n;
    if (!(m >= lo && m <= hi)) throw validation(`cron "${cron}": ${name} "${v}" is not ${lo} to ${hi}`);
    return m;
  };
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/") as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw validation(`cron "${cron}": ${name} step "${stepText}" is not a positive number`);
    let a: number;
    let b: number;
    if (range === "*") [a, b] = [lo, hi];
    else if (range.includes("-")) {
      const [x, y] = range.split("-") as [string, string];
      [a, b] = [value(x), value(y)];
      if (b < a) throw validation(`cron "${cron}": ${name} range "${range}" runs backwards`);
    } else [a, b] = [value(range), stepText === undefined ? value(range) : hi];
    for (let v = a; v <= b; v += step) out.add(v);
  }
  return [...out].sort((x, y) => x - y);
}

export function parseCron(text: string): Cron {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw validation(`cron "${text}" must have five fields: minute hour day-of-month month day-of-week`);
  }
  const [mi, h, dom, mon, dow] = parts as [string, string, string, string, string];
  return {
    text,
    minutes: field(mi, text, "minute", 0, 59),
    hours: field(h, text, "hour", 0, 23),
    days: new Set(field(dom, text, "day of month", 1, 31)),
    months: new Set(field(mon, text, "month", 1, 12, MONTH_NAMES)),
    weekdays: new Set(field(dow, text, "day of week", 0, 7, DAY_NAMES)),
    anyDay: dom === "*",
    anyWeekday: dow === "*",
  };
}

function dayMatches(c: Cron, day: Date): boolean {
  if (!c.months.has(day.getUTCMonth() + 1)) return false;
  const dom = c.days.has(day.getUTCDate());
  const dow = c.weekdays.has(day.getUTCDay());
  // As cron does: when both day fields are restricted, either one matching is enough.
  if (!c.anyDay && !c.anyWeekday) return dom || dow;
  return dom && dow;
}

/**
 * The times in [from, to) the cron fires at in the zone, in order. A local time that happens twice (clocks going
 * back) fires once, at its first; one that does not happen (clocks going forward) fires as late as the gap is long.
 */
export function occurrences(c: Cron, from: number, to: number, zone: Zone = UTC): number[] {
  const out: number[] = [];
  const first = zone.wall(from);
  for (let day = first - (((first % DAY_MS) + DAY_MS) % DAY_MS); zone.instant(day) < to; day += DAY_MS) {
    if (!dayMatches(c, new Date(day))) continue;
    // A day without a change of offset maps each of its local times by that one offset.
    const start = zone.instant(day);
    const offset = day - start;
    const even = zone.offsetAt(start) === offset && zone.offsetAt(start + DAY_MS - 1) === offset;
    for (const h of c.hours) {
      for (const m of c.minutes) {
        const wall = day + h * 3_600_000 + m * MINUTE_MS;
        const t = even ? wall - offset : zone.instant(wall);
        if (t >= from && t < to) out.push(t);
      }
    }
  }
  out.sort((a, b) => a - b);
  return out.filter((t, i) => i === 0 || t !== out[i - 1]);
}

export interface RepeatWindow {
  readonly start: Cron;
  readonly end: Cron;
}

/** How far back a window's opening is looked for: a window opened yearly is found. */
const LOOKBACK_MS = 367 * DAY_MS;

/**
 * The intervals [start, end) inside [from, to) during which any of the windows is open, its crons read in the zone.
 * A window opens at each start time and closes at the next end time after it; one opened before `from` (up to a
 * year back) and not yet closed is open at `from`.
 */
export function openIntervals(
  windows: readonly RepeatWindow[],
  from: number,
  to: number,
  zone: Zone = UTC,
): [number, number][] {
  const marks: [number, 1 | -1][] = [];
  for (const w of windows) {
    const starts = occurrences(w.start, from - LOOKBACK_MS, to, zone);
    const ends = occurrences(w.end, from - LOOKBACK_MS, to, zone);
    let e = 0;
    let openedAt: number | null = null;
    const close = (at: number) => {
      if (openedAt !== null && at > from) marks.push([Math.max(openedAt, from), 1], [Math.min(at, to), -1]);
      openedAt = null;
    };
    for (const s of starts) {
      while (openedAt !== null && e < ends.length && (ends[e] as number) <= s) {
        if ((ends[e] as number) > openedAt) close(ends[e] as number);
        e++;
      }
      if (openedAt === null) openedAt = s;
    }
    while (openedAt !== null && e < ends.length) {
      if ((ends[e] as number) > openedAt) close(ends[e] as number);
      e++;
    }
    if (openedAt !== null) close(to);
  }
  // Union of the windows' intervals.
  marks.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const out: [number, number][] = [];
  let depth = 0;
  let start = 0;
  for (const [t, d] of marks) {
    if (d === 1 && depth++ === 0) start = t;
    if (d === -1 && --depth === 0 && t > start) {
      const last = out.at(-1);
      if (last && last[1] === start) last[1] = t;
      else out.push([start, t]);
    }
  }
  return out;
}
