// The events the store contracts are written with: a default event to override, and streams for property tests.

import fc from "fast-check";
import type { UsageEvent } from "../domain/event.js";
import type { MetricKind } from "../domain/metric.js";
import { HOUR_MS } from "../domain/time.js";
import type { UsageStore } from "./port.js";

/** The hour the contracts' events start at. */
export const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);

/** An event of counter requests.get on s1 for a1 at T0, with what `overrides` gives. */
export function event(overrides: Partial<UsageEvent> & { id: string }): UsageEvent {
  return {
    server: "s1",
    time: T0,
    account: "a1",
    metric: "requests.get",
    kind: "counter",
    value: 1n,
    instance: "",
    dims: null,
    ...overrides,
  };
}

/** Inserts the events in the order the stream's numbers give them, `batchSize` at a time: many arrive late. */
export async function insertShuffled(
  store: UsageStore,
  events: readonly UsageEvent[],
  order: Iterator<number>,
  batchSize: number,
): Promise<void> {
  const shuffled = events
    .map((e) => ({ e, k: order.next().value as number }))
    .sort((x, y) => x.k - y.k)
    .map((x) => x.e);
  for (let i = 0; i < shuffled.length; i += batchSize) await store.insertEvents(shuffled.slice(i, i + batchSize));
}

/**
 * Mixed events (levels, counters and states, on two servers and accounts, with and without an instance and dims) over
 * `hours` hours, ids e0, e1 … in order. Some share a time, to exercise the tie-break on id, and some fall on the
 * first millisecond of an hour, where the level held before it does not count towards the hour's max.
 */
export function arbitraryEvents(hours: number): fc.Arbitrary<UsageEvent[]> {
  const kinds: [string, MetricKind][] = [
    ["storage.bytes", "level"],
    ["requests.put", "counter"],
    ["power.on", "state"],
  ];
  const arbEvent = fc.record({
    server: fc.constantFrom("s1", "s2"),
    account: fc.constantFrom("a", "b"),
    metric: fc.constantFrom(0, 1, 2),
    instance: fc.constantFrom("", "bucket"),
    // Kept dims make series of their own; other dims do not.
    dims: fc.constantFrom<UsageEvent["dims"]>(
      null,
      { media: "tape" },
      { note: "x", media: "tape" },
      { site: "S", media: "disk" },
      { note: "y" },
    ),
    time: fc.oneof(
      fc.integer({ min: 0, max: hours * HOUR_MS }).map((t) => t - (t % 7)),
      fc.integer({ min: 0, max: hours }).map((h) => h * HOUR_MS),
    ),
    value: fc.bigInt({ min: 0n, max: 2n ** 70n }),
  });
  return fc.array(arbEvent, { minLength: 1, maxLength: 40 }).map((raw) =>
    raw.map((r, i) => {
      const [metric, kind] = kinds[r.metric] as [string, MetricKind];
      const value = kind === "state" ? r.value % 2n : r.value;
      return event({ ...r, id: `e${i}`, metric, kind, value, time: T0 + r.time });
    }),
  );
}
