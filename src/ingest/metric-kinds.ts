// The kinds of a batch's metrics that its events leave out: a custom metric's kind is needed only until it is stored.

import { type UsageEvent, validateEvent } from "../domain/event.js";
import { builtinKind, isMetricKind, type MetricKind } from "../domain/metric.js";
import type { MetricKindReader } from "../store/port.js";
import type { BatchItem } from "./parse-body.js";

/** Kinds never change once stored, so what a store answered is kept; it is asked again only for a metric missing. */
const stored = new WeakMap<MetricKindReader, ReadonlyMap<string, MetricKind>>();

/**
 * The kind of each metric that some event of the batch names without a kind and that is not built in: the stored
 * kind, or else the first kind the batch itself gives it (on an event that is valid and that the gate lets in, since
 * that event is the one that will store it). Metrics neither stored nor named in the batch are left out, and their
 * events are refused by validateEvent. Null when no event leaves out a kind that needs looking up.
 */
export async function missingKinds(
  store: MetricKindReader,
  items: readonly BatchItem[],
  gate?: (event: UsageEvent) => string | null,
): Promise<ReadonlyMap<string, MetricKind> | null> {
  const wanted = new Set<string>();
  for (const item of items) {
    if (!("raw" in item)) continue;
    const { metric, kind } = item.raw;
    if ((kind === undefined || kind === null) && typeof metric === "string" && builtinKind(metric) === undefined) {
      wanted.add(metric);
    }
  }
  if (wanted.size === 0) return null;

  let known = stored.get(store);
  if (known === undefined || [...wanted].some((m) => !known?.has(m))) {
    // Another node (or an earlier batch) may have stored it since: ask again, once per batch.
    known = new Map(Object.entries(await store.metricKinds()));
    stored.set(store, known);
  }
  const kinds = new Map<string, MetricKind>();
  for (const metric of wanted) {
    const kind = known.get(metric);
    if (kind !== undefined) kinds.set(metric, kind);
  }
  if (kinds.size === wanted.size) return kinds;

  // What the store does not know yet, the batch may name: its first valid event of the metric that gives a kind.
  for (const item of items) {
    if (!("raw" in item) || !isMetricKind(item.raw.kind)) continue;
    const metric = item.raw.metric;
    if (typeof metric !== "string" || !wanted.has(metric) || kinds.has(metric)) continue;
    const v = validateEvent(item.raw, item.names);
    if (v.ok && (gate === undefined || gate(v.event) === null)) kinds.set(metric, v.event.kind);
  }
  return kinds;
}
