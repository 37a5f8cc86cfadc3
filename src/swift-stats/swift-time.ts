// Times as swift-stats callers write them: "2012-10-22 08:00:00" (UTC), or RFC 3339 with an offset.

import { DAY_MS } from "../domain/day-usage.js";
import { parseEventTime } from "../domain/time.js";

const NAIVE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/;

/** Epoch milliseconds, or a reason the text is not a time. */
export function parseSwiftTime(raw: string): number | string {
  const text = raw.trim();
  // The seed's form has no zone: it is UTC.
  const parsed = parseEventTime(NAIVE.test(text) ? `${text}Z` : text);
  if (typeof parsed === "number") return parsed;
  return `"${text.slice(0, 40)}" is not a time like 2012-10-22 08:00:00 (UTC) or 2012-10-22T08:00:00Z`;
}

/** The date of the last day formatted: a month of hours is 720 times, and 30 dates. */
let lastDay = { start: Number.NaN, text: "" };

/** The seed's form, UTC, to the second: "2012-10-22 08:00:00". */
export function formatSwiftTime(time: number): string {
  const start = Math.floor(time / DAY_MS) * DAY_MS;
  if (start !== lastDay.start) lastDay = { start, text: new Date(start).toISOString().slice(0, 10) };
  const seconds = Math.floor((time - start) / 1000);
  const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  return `${lastDay.text} ${two(Math.floor(seconds / 3600))}:${two(Math.floor(seconds / 60) % 60)}:${two(seconds % 60)}`;
}
