// Metric kinds and the built-in metrics whose kind is known.

export type MetricKind = "level" | "counter" | "state";

export const METRIC_KINDS: readonly MetricKind[] = ["level", "counter", "state"];

export const BUILTIN_METRICS: Readonly<Record<string, MetricKind>> = {
  "storage.bytes": "level",
  "storage.files": "level",
  "storage.containers": "level",
  "storage.reserved": "level",
  "requests.get": "counter",
  "requests.put": "counter",
  "requests.head": "counter",
  "requests.post": "counter",
  "requests.delete": "counter",
  "requests.other": "counter",
  "bytes.in": "counter",
  "bytes.out": "counter",
};

/** A built-in metric's kind; only the table's own names count (not "constructor", which every object inherits). */
export function builtinKind(metric: string): MetricKind | undefined {
  return Object.hasOwn(BUILTIN_METRICS, metric) ? BUILTIN_METRICS[metric] : undefined;
}

/** Levels and states both hold their value until the next reading; only counters add up. */
export function isHeld(kind: MetricKind): boolean {
  return kind !== "counter";
}

export function isMetricKind(value: unknown): value is MetricKind {
  return value === "level" || value === "counter" || value === "state";
}
