// Units of price and their exact size in base units: bytes (or items counted) and milliseconds.

import { validation } from "../domain/errors.js";

const BYTES: Record<string, bigint> = {
  B: 1n,
  byte: 1n,
  bytes: 1n,
  KB: 1000n,
  kB: 1000n,
  MB: 1000n ** 2n,
  GB: 1000n ** 3n,
  TB: 1000n ** 4n,
  PB: 1000n ** 5n,
  KiB: 1024n,
  MiB: 1024n ** 2n,
  GiB: 1024n ** 3n,
  TiB: 1024n ** 4n,
  PiB: 1024n ** 5n,
};

const TIME: Record<string, bigint> = {
  ms: 1n,
  s: 1000n,
  sec: 1000n,
  second: 1000n,
  seconds: 1000n,
  min: 60_000n,
  minute: 60_000n,
  minutes: 60_000n,
  h: 3_600_000n,
  hr: 3_600_000n,
  hour: 3_600_000n,
  hours: 3_600_000n,
  d: 86_400_000n,
  day: 86_400_000n,
  days: 86_400_000n,
};

const MONTH = new Set(["month", "months", "mo"]);

/** Words for one of something counted (requests, files, a credit): size 1. */
const COUNT = new Set([
  "count",
  "each",
  "unit",
  "units",
  "request",
  "requests",
  "event",
  "events",
  "file",
  "files",
  "object",
  "objects",
  "container",
  "containers",
  "credit",
  "credits",
  "instance",
  "instances",
]);

export interface Unit {
  readonly text: string;
  /** How many base units (bytes or items, times milliseconds when timed) one of this unit is. */
  readonly size: bigint;
  /** "bytes" or "count" for what is measured, or null for a unit of time alone (an on-off resource's hour). */
  readonly measure: "bytes" | "count" | null;
  readonly timed: boolean;
}

/**
 * Reads a unit: a byte multiple (B, KB … PB powers of 1000, KiB … PiB powers of 1024), a counted word (request,
 * file, count …), a time (second, minute, hour, day, month), or a product of a measure and a time written with "-",
 * "*" or "·" (GB-hour, GiB-month). "MB/hr" is read as Aquarium writes a price: per MB per hour, the MB-hour.
 * `monthMs` is the policy's month.
 */
export function parseUnit(text: string, monthMs: bigint): Unit {
  const parts = text.trim().split(/\s*[-*·/]\s*/);
  let measure: Unit["measure"] = null;
  let timed = false;
  let size = 1n;
  for (const part of parts) {
    const lower = part.toLowerCase();
    const bytes = own(BYTES, part) ?? own(BYTES, part.toUpperCase());
    const time = MONTH.has(lower) ? monthMs : own(TIME, lower);
    if (bytes !== undefined && measure === null) {
      measure = "bytes";
      size *= bytes;
    } else if (COUNT.has(lower) && measure === null) {
      measure = "count";
    } else if (time !== undefined && !timed) {
      timed = true;
      size *= time;
    } else {
      throw validation(
        `unit "${text}" is not one this policy can price: use a byte multiple (B, KB, MB, GB, TB, KiB … TiB), ` +
          "a count (request, file, count …), a time (second, minute, hour, day, month), or a product (GB-hour)",
      );
    }
  }
  return { text, size, measure, timed };
}

/** A table's own entry only: "constructor" is not a unit. */
function own(table: Record<string, bigint>, key: string): bigint | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
