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
  // By hours since the range's first (an hour boundary). Hours that have not begun are left out even with
  // fill=zero: a zero there would say they passed without traffic.
  const hours: Counters[] = [];
  if (query.fill === "zero") {
    for (let hour = query.fromHour; hour < query.toHour && hour <= now; hour += HOUR_MS) {
      hours[(hour - query.fromHour) / HOUR_MS] = zeroCounters();
    }
  }
  for (const s of sums) {
    const field = COUNTER_METRICS[s.metric];
    if (!field || s.hour === null) continue;
    const i = (s.hour - query.fromHour) / HOUR_MS;
    const counters = hours[i] ?? zeroCounters();
    counters[field] += s.sum;
    hours[i] = counters;
  }
  const out: [number, Counters][] = [];
  // forEach passes over the hours without a value.
  hours.forEach((counters, i) => {
    out.push([query.fromHour + i * HOUR_MS, counters]);
  });
  return out;
}
