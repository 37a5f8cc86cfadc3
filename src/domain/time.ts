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

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number);
}

export function hourOf(time: number): number {
  return time - (time % HOUR_MS);
}

export function isoTime(time: number): string {
  return new Date(time).toISOString();
}
