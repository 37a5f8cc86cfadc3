// io_detail: the same counters as io_sum, hour by hour: the hours of the range that had traffic, or with fill=zero
// every hour of it up to now.

import { HOUR_MS } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { COUNTER_METRICS, type Counters, zeroCounters } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";

/** [hour start (epoch ms), counters] in time order. */
export async function ioDetail(
  store: UsageReader,
  query: SwiftStatsQuery,
  now: number = Date.now(),
): Promise<[number, Counters][]> {
  const sums = await store.counterSums({
    account: query.account,
    from: query.fromHour,
    to: query.toHour,
    metrics: Object.keys(COUNTER_METRICS),
    byHour: true,
  });
  const hours = new Map<number, Counters>();
  // Hours that have not begun are left out even so: a zero there would say they passed without traffic.
  if (query.fill === "zero") {
    for (let hour = query.fromHour; hour < query.toHour && hour <= now; hour += HOUR_MS)
      hours.set(hour, zeroCounters());
  }
  for (const s of sums) {
    const field = COUNTER_METRICS[s.metric];
    if (!field || s.hour === null) continue;
    let counters = hours.get(s.hour);
    if (!counters) {
      counters = zeroCounters();
      hours.set(s.hour, counters);
    }
    counters[field] += s.sum;
  }
  return [...hours].sort((a, b) => a[0] - b[0]);
}
