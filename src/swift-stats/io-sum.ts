// io_sum: an account's requests by method and bytes in and out over a range, summed over servers and instances.

import type { UsageReader } from "../store/port.js";
import { COUNTER_METRICS, type Counters, zeroCounters } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";

export async function ioSum(store: UsageReader, query: SwiftStatsQuery): Promise<Counters> {
  const sums = await store.counterSums({
    account: query.account,
    from: query.fromHour,
    to: query.toHour,
    metrics: Object.keys(COUNTER_METRICS),
    byHour: false,
  });
  const sum = zeroCounters();
  for (const s of sums) {
    const field = COUNTER_METRICS[s.metric];
    if (field) sum[field] += s.sum;
  }
  return sum;
}
