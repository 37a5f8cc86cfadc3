// Event times: RFC 3339 strings or epoch milliseconds, kept as epoch milliseconds (UTC); hours are the rollup bucket.

export const HOUR_MS = 3_600_000;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
/** Earliest and latest accepted times: years 1970 to 9999. */
const MIN_TIME = 0;
const MAX_TIME = 253_402_300_799_999;

/** Parses an RFC 3339 time or epoch milliseconds; returns epoch ms or a reason. */
export function parseEventTime(raw: unknown): number | string {
  if (typeof raw === "number") {
    if (!Number.isInteger(raw)) return `is ${raw}: epoch milliseconds must be an integer`;
    if (raw < MIN_TIME || raw > MAX_TIME) return `is ${raw}: epoch milliseconds out of range (1970 to 9999)`;
    return raw + 0; // never -0
  }
  if (typeof raw !== "string") return "must be an RFC 3339 string or epoch milliseconds";
  const utc = canonicalUtc(raw);
  if (utc !== null) return utc;
  const m = RFC3339.exec(raw);
  if (!m) return `"${raw.slice(0, 40)}" is not an RFC 3339 time (like 2026-11-23T12:00:00Z)`;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[] as [number, number, number, number, number, number, number];
  const zone = m[8] as string;
  const offset = zone.length === 1 ? 0 : Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6));
  const badOffset = zone.length > 1 && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59);
  // Second 60 (a leap second) is refused, as Date cannot represent it: saying so beats a misleading "out of range".
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59 || badOffset) {
    return `"${raw}" is not a valid calendar time`;
  }
  // Fractions beyond milliseconds are cut off, as Date.parse does.
  const millis = m[7] ? Number(m[7].slice(1, 4).padEnd(3, "0")) : 0;
  // Date.UTC reads years below 100 as 19xx; every time before 1969 is out of range whatever its offset.
  const ms = y < 1969 ? -1 : Date.UTC(y, mo - 1, d, h, mi, s, millis) - (zone[0] === "-" ? -offset : offset) * 60_000;
  if (ms < MIN_TIME || ms > MAX_TIME) return `"${raw}" is out of range (1970 to 9999)`;
  return ms;
}

/**
 * The form nearly every sender uses, 2026-11-23T12:00:00Z or with milliseconds (.123Z), read digit by digit:
 * epoch ms, or null for any other form or a value this does not vouch for (parseEventTime then decides).
 */
function canonicalUtc(raw: string): number | null {
  const n = raw.length;
  if (n !== 20 && n !== 24) return null;
  if (raw.charCodeAt(4) !== 45 || raw.charCodeAt(7) !== 45 || raw.charCodeAt(10) !== 84) return null; // - - T
  if (raw.charCodeAt(13) !== 58 || raw.charCodeAt(16) !== 58 || raw.charCodeAt(n - 1) !== 90) return null; // : : Z
  if (n === 24 && raw.charCodeAt(19) !== 46) return null; // .
  const y = digits(raw, 0, 4);
  const mo = digits(raw, 5, 2);
  const d = digits(raw, 8, 2);
  const h = digits(raw, 11, 2);
  const mi = digits(raw, 14, 2);
  const sec = digits(raw, 17, 2);
  const ms = n === 24 ? digits(raw, 20, 3) : 0;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) {
    return null;
  }
  if (ms < 0) return null;
  if (d > daysInMonth(y, mo)) return null;
  return Date.UTC(y, mo - 1, d, h, mi, sec, ms);
}

/** The number the `count` decimal digits at `at` spell, or -1 if any is not a digit. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number);
}

export function hourOf(time: number): number {
  return time - (time % HOUR_MS);
}

/** Times shown lately: bills and records show the same few (a period's bounds, its days) over and over. */
const shownTimes = new Map<number, string>();
const SHOWN_TIMES = 4096;

export function isoTime(time: number): string {
  let shown = shownTimes.get(time);
  if (shown === undefined) {
    shown = new Date(time).toISOString();
    if (shownTimes.size >= SHOWN_TIMES) shownTimes.clear();
    shownTimes.set(time, shown);
  }
  return shown;
}
