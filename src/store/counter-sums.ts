// Counter sums of one account over a range (UsageReader.counterSums), as both stores answer them: each series' sums
// read as pieces, a UTC day's sum for each whole day of a total and an hour's sum for every other hour, then added
// here, exactly, per metric and hour or per metric.

import { DAY_MS } from "../domain/day-usage.js";
import { compareUtf8 } from "../domain/rollup.js";
import { HOUR_MS } from "../domain/time.js";
import type { CounterSum, CounterSumQuery } from "./port.js";

/** The pieces a store reads for a query: hours [first, to), and among them the whole days [wholeFrom, wholeTo). */
export interface CounterPieces {
  readonly first: number;
  readonly to: number;
  /** Days read as one sum each; empty (wholeFrom = wholeTo = to) by hour, where every hour is read. */
  readonly wholeFrom: number;
  readonly wholeTo: number;
}

export function counterPieces(query: CounterSumQuery): CounterPieces {
  const first = Math.ceil(query.from / HOUR_MS) * HOUR_MS;
  const to = Math.max(first, query.to);
  const wholeFrom = Math.ceil(first / DAY_MS) * DAY_MS;
  const wholeTo = Math.floor(to / DAY_MS) * DAY_MS;
  if (query.byHour || wholeFrom >= wholeTo) return { first, to, wholeFrom: to, wholeTo: to };
  return { first, to, wholeFrom, wholeTo };
}

/**
 * Adds pieces up per metric, and per hour when asked; a piece comes at its hour (hours since 1970, as the stores read
 * them: fewer digits than epoch ms), a value as an integer, or its decimal text at any size. Sums stay doubles while
 * they are safe integers (a sum of two safe integers is exact exactly when it is one) and become bigints beyond. By
 * hour, a metric's sums sit in an array by hours since `first`: a month of them is added five times faster than in a
 * Map.
 */
export class CounterSummer {
  private readonly sums = new Map<string, (number | bigint)[]>();
  /** `first` as hours since 1970. */
  private readonly firstHour: number;

  constructor(
    private readonly byHour: boolean,
    private readonly first: number,
  ) {
    this.firstHour = first / HOUR_MS;
  }

  /** Adds `value` at `hour`, hours since 1970. */
  add(metric: string, hour: number, value: number | string): void {
    let sums = this.sums.get(metric);
    if (sums === undefined) {
      sums = [];
      this.sums.set(metric, sums);
    }
    const at = this.byHour ? hour - this.firstHour : 0;
    const before = sums[at] ?? 0;
    // Fifteen characters are at most fifteen digits, which a double holds.
    const v = typeof value === "string" && value.length <= 15 ? Number(value) : value;
    if (typeof v === "number" && typeof before === "number") {
      const sum = before + v;
      if (Number.isSafeInteger(sum)) {
        sums[at] = sum;
        return;
      }
    }
    sums[at] = BigInt(before) + BigInt(v);
  }

  /** Ordered by metric, then hour. */
  result(): CounterSum[] {
    const out: CounterSum[] = [];
    for (const metric of [...this.sums.keys()].sort(compareUtf8)) {
      const sums = this.sums.get(metric) as (number | bigint)[];
      for (let at = 0; at < sums.length; at++) {
        const sum = sums[at];
        if (sum === undefined) continue;
        out.push({ metric, hour: this.byHour ? this.first + at * HOUR_MS : null, sum: BigInt(sum) });
      }
    }
    return out;
  }
}
