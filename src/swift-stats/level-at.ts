// A held series' level at an instant on the hour, read back from its hourly rollup rows (domain/rollup.ts, heldRows).

import type { RollupRow } from "../domain/rollup.js";
import { HOUR_MS, hourOf } from "../domain/time.js";

export interface LatestReading {
  readonly time: number;
  readonly value: bigint;
}

type HourRow = Pick<RollupRow, "count" | "last" | "integral">;

/**
 * The level at instant `at` (an hour's start): the series' latest reading at or before it, or undefined before its
 * first. `before` is the series' row of the hour ending at `at`, `row` that of the hour starting at it, and `latest`
 * its latest reading of all.
 *
 * A row keeps the level at its hour's end, not when its readings came, so a reading made exactly at `at` is seen
 * only when it is its series' one reading of that hour (an hourly scan); when a series has several readings in the
 * hour starting at `at`, the level just before `at` is answered.
 */
export function levelAt(
  at: number,
  before: HourRow | undefined,
  row: HourRow | undefined,
  latest: LatestReading | null,
): bigint | undefined {
  if (latest && latest.time <= at) return latest.value;
  const held = before?.last ?? undefined;
  if (row?.count !== 1 || row.last === null || row.integral === null) return held;
  // The series' latest row is open (its integral stops at the reading), and that reading, after `at`, is its one.
  if (latest && hourOf(latest.time) === at) return held;
  // A closed row's one reading, of `last` at time t, makes integral = held × (t − at) + last × (at + 1 h − t): that is
  // last × 1 h exactly when t = at, or when held = last, where the level at `at` is last either way. With nothing
  // held before, a reading of 0 gives 0 whenever it came, so it proves nothing.
  if (row.integral === row.last * BigInt(HOUR_MS) && (held !== undefined || row.last !== 0n)) return row.last;
  return held;
}
