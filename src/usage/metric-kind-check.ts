// Which metrics a view can show: the usage table sums levels, the states view shows states; anything else is a 400.

import { validation } from "../domain/errors.js";
import { BUILTIN_METRICS, builtinKind, type MetricKind } from "../domain/metric.js";
import { compareUtf8 } from "../domain/rollup.js";
import type { MetricKindReader } from "../store/port.js";

/** Names listed in an error at most: a store may hold many custom metrics, and the message stays readable. */
const LISTED = 20;

/** Where each kind is shown, for the hint that sends a reader to the right view. */
const VIEW: Partial<Record<MetricKind, { readonly path: string; readonly shows: string }>> = {
  level: { path: "/usage", shows: "the usage table shows level metrics" },
  state: { path: "/usage/states", shows: "the states view shows state metrics" },
};

/**
 * Throws VALIDATION unless `metric` is of kind `wanted` (built in, or stored with that kind), naming the metric, its
 * kind, the view for it, and the metrics of the wanted kind there are. A built-in level needs no look-up.
 */
export async function assertMetricKind(reader: MetricKindReader, metric: string, wanted: "level" | "state") {
  if (builtinKind(metric) === wanted) return;
  const kinds: Record<string, MetricKind> = { ...BUILTIN_METRICS, ...(await reader.metricKinds()) };
  const kind = Object.hasOwn(kinds, metric) ? kinds[metric] : undefined;
  if (kind === wanted) return;
  const names = Object.keys(kinds)
    .filter((name) => kinds[name] === wanted)
    .sort(compareUtf8);
  const listed = names.length === 0 ? `none is stored yet` : names.slice(0, LISTED).join(", ");
  const more = names.length > LISTED ? ` and ${names.length - LISTED} more` : "";
  const elsewhere = kind === undefined ? undefined : VIEW[kind];
  const what =
    kind === undefined
      ? "is neither built in nor stored"
      : `is a ${kind}, not a ${wanted}${elsewhere ? ` (see ${elsewhere.path}?metric=${metric})` : ""}`;
  throw validation(`metric "${metric}" ${what}; ${VIEW[wanted]?.shows}: ${listed}${more}`, { metric, kind });
}
