// The policy's time zone: local wall times of an IANA zone read through Node's built-in Intl, DST included.

import { validation } from "../domain/errors.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Offsets are checked from 1970 to 2100: Intl repeats a zone's current rule beyond its last known change. */
const CHECK_FROM = 0;
const CHECK_TO = Date.UTC(2100, 0, 1);
/** Sampling a week apart finds every offset a zone keeps for more than a week. */
const CHECK_STEP = 7 * DAY_MS;
/** Offsets remembered per zone: period bounds and cron times repeat for every account of a billing run. */
const KEPT_OFFSETS = 100_000;

/** Local date and time parts of an instant; `weekday` is 0 for Sunday. */
export interface LocalParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly weekday: number;
}

/**
 * A time zone. A "wall" time is a local date and time written as epoch ms as if it were UTC
 * (Date.UTC(2026, 10, 1) is midnight of November 1st, local).
 */
export class Zone {
  private readonly offsets = new Map<number, number>();

  constructor(
    readonly name: string,
    private readonly format: Intl.DateTimeFormat | null,
  ) {}

  /** Local time minus UTC at instant t, in ms. */
  offsetAt(t: number): number {
    if (this.format === null) return 0;
    const known = this.offsets.get(t);
    if (known !== undefined) return known;
    const p: Record<string, number> = {};
    for (const part of this.format.formatToParts(t)) if (part.type !== "literal") p[part.type] = Number(part.value);
    const wall = Date.UTC(p.year as number, (p.month as number) - 1, p.day, p.hour, p.minute, p.second);
    const offset = wall - (t - (((t % 1000) + 1000) % 1000));
    if (this.offsets.size >= KEPT_OFFSETS) this.offsets.clear();
    this.offsets.set(t, offset);
    return offset;
  }

  /** The wall time at instant t. */
  wall(t: number): number {
    return t + this.offsetAt(t);
  }

  local(t: number): LocalParts {
    const d = new Date(this.wall(t));
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      weekday: d.getUTCDay(),
    };
  }

  /**
   * The instant of a wall time. Where the clocks go back and the wall time happens twice, the first; where they go
   * forward and it does not happen, it is moved forward by the gap (02:30 in a one-hour gap is 03:30 after it).
   */
  instant(wall: number): number {
    const before = this.offsetAt(wall - DAY_MS);
    const early = wall - before;
    if (this.offsetAt(early) === before) return early;
    const after = this.offsetAt(wall + DAY_MS);
    const late = wall - after;
    if (this.offsetAt(late) === after) return late;
    return early;
  }
}

export const UTC = new Zone("UTC", null);

const zones = new Map<string, Zone>([["UTC", UTC]]);

/**
 * The zone an IANA name stands for. Refused: a name Intl does not know, and a zone whose offset from UTC is not a
 * whole number of hours at some time from 1970 to 2100, because usage is kept in UTC hours and a local hour
 * would split them.
 */
export function timeZone(name: string): Zone {
  const known = zones.get(name);
  if (known) return known;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  } catch {
    throw validation(`"${name.slice(0, 60)}" is not a time zone this system knows (an IANA name like Europe/Berlin)`);
  }
  const zone = new Zone(name, format);
  for (let t = CHECK_FROM; t < CHECK_TO; t += CHECK_STEP) {
    const offset = zone.offsetAt(t);
    if (offset % HOUR_MS !== 0) {
      const sign = offset < 0 ? "-" : "+";
      const minutes = Math.abs(offset) / 60_000;
      const text = `${sign}${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
      throw validation(
        `time zone ${name} is ${text} from UTC on ${new Date(t).toISOString().slice(0, 10)}: usage is kept in ` +
          "whole UTC hours, so only zones whose offset is always a whole number of hours can be used",
      );
    }
  }
  zones.set(name, zone);
  return zone;
}
