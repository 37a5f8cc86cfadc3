// io_detail: the same counters as io_sum, hour by hour, for the hours of the range that had traffic.

import type { UsageReader } from "../store/port.js";
import { COUNTER_METRICS, type Counters, zeroCounters } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";

/** [hour start (epoch ms), counters] in time order. */
export async function ioDetail(store: UsageReader, query: SwiftStatsQuery): Promise<[number, Counters][]> {
  const rows = await store.rollups({
    account: query.account,
    from: query.fromHour,
    to: query.toHour,
    metrics: Object.keys(COUNTER_METRICS),
  });
  const hours = new Map<number, Counters>();
  for (const row of rows) {
    const field = COUNTER_METRICS[row.metric];
    if (!field) continue;
    let counters = hours.get(row.hour);
    if (!counters) {
      counters = zeroCounters();
      hours.set(row.hour, counters);
    }
    counters[field] += row.sum ?? 0n;
  }
  return [...hours].sort((a, b) => a[0] - b[0]);
}
