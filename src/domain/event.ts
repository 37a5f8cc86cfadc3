// The usage event: one measurement on one server, and the rules that turn untrusted JSON into one.

import { builtinKind, isMetricKind, type MetricKind } from "./metric.js";
import { nameTextProblem } from "./text.js";
import { parseEventTime } from "./time.js";
import { describeType, parseExactInteger, truncate } from "./value.js";

export interface UsageEvent {
  /** Unique per server: (server, id) identifies the event, and a re-sent event is a duplicate. */
  readonly id: string;
  readonly server: string;
  /** Epoch milliseconds, UTC. */
  readonly time: number;
  readonly account: string;
  readonly metric: string;
  readonly kind: MetricKind;
  readonly value: bigint;
  /** A bucket, container or volume; "" when the event is for the whole account. */
  readonly instance: string;
  readonly dims: Readonly<Record<string, string>> | null;
}

export const LIMITS = {
  /** Events (lines or array elements) in one batch, by default: a batch's cost is bounded by it, whatever its shape. */
  batchEvents: 100_000,
  idBytes: 256,
  nameBytes: 256,
  dims: 32,
  dimKeyBytes: 64,
  dimValueBytes: 256,
} as const;

/** Lower-case words separated by dots: storage.bytes, requests.get, custom.thing. */
export const METRIC_NAME = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;
const DIM_KEY = /^[A-Za-z][A-Za-z0-9_.-]*$/;

export type Validated = { ok: true; event: UsageEvent } | { ok: false; id: string | undefined; reason: string };

/** The fields of an event before validation, whichever envelope they came in. */
export interface RawEvent {
  id: unknown;
  server: unknown;
  time: unknown;
  account: unknown;
  metric: unknown;
  value: unknown;
  kind?: unknown;
  instance?: unknown;
  dims?: unknown;
}

const fail = (id: unknown, reason: string): Validated => ({
  ok: false,
  id: typeof id === "string" ? id : undefined,
  reason,
});

/**
 * Validates one event; the reason names the field that is wrong. `names` maps our field names to the envelope's.
 * `kinds` gives the kind of metrics that are not built in, for events that leave it out (see ingest/metric-kinds.ts).
 */
export function validateEvent(
  raw: RawEvent,
  names: Readonly<Record<string, string>> = {},
  kinds?: ReadonlyMap<string, MetricKind>,
): Validated {
  // No closures here: this runs for every event, and each would be allocated at every call.
  const eid = raw.id;
  if (!isPlainText(eid, LIMITS.idBytes)) return textFailure(raw, "id", LIMITS.idBytes, names);
  const server = raw.server;
  if (!isPlainText(server, LIMITS.nameBytes)) return textFailure(raw, "server", LIMITS.nameBytes, names);
  const account = raw.account;
  if (!isPlainText(account, LIMITS.nameBytes)) return textFailure(raw, "account", LIMITS.nameBytes, names);
  const metric = raw.metric;
  if (!isPlainText(metric, LIMITS.nameBytes)) return textFailure(raw, "metric", LIMITS.nameBytes, names);
  if (!isMetricName(metric)) {
    return fail(eid, `${fieldName(names, "metric")} "${truncate(metric)}" must be lower-case words separated by dots`);
  }

  if (raw.time === undefined || raw.time === null) return fail(eid, `${fieldName(names, "time")} is missing`);
  const time = parseEventTime(raw.time);
  if (typeof time === "string") return fail(eid, `${fieldName(names, "time")} ${time}`);

  let kind: MetricKind | undefined = builtinKind(metric);
  if (raw.kind !== undefined && raw.kind !== null) {
    const field = fieldName(names, "kind");
    if (!isMetricKind(raw.kind)) return fail(eid, `${field} must be "level", "counter" or "state"`);
    if (kind && raw.kind !== kind) return fail(eid, `${field} "${raw.kind}" contradicts ${metric}, a ${kind}`);
    kind = raw.kind;
  }
  kind ??= kinds?.get(metric);
  if (!kind) {
    return fail(
      eid,
      `${fieldName(names, "metric")} "${truncate(metric)}" is not built in and has no stored kind: ` +
        `give its ${fieldName(names, "kind")} (in this event or another of the batch)`,
    );
  }

  if (raw.value === undefined || raw.value === null) return fail(eid, `${fieldName(names, "value")} is missing`);
  const value = parseExactInteger(raw.value);
  if (typeof value === "string") return fail(eid, `${fieldName(names, "value")} ${value}`);
  if (value < 0n) return fail(eid, `${fieldName(names, "value")} is negative; a ${kind} cannot be`);
  if (kind === "state" && value > 1n) return fail(eid, `${fieldName(names, "value")} must be 0 or 1 for a state`);

  let instance = "";
  if (raw.instance !== undefined && raw.instance !== null) {
    const field = fieldName(names, "instance");
    if (typeof raw.instance !== "string") {
      return fail(eid, `${field} must be a string, not ${describeType(raw.instance)}`);
    }
    if (longerThan(raw.instance, LIMITS.nameBytes))
      return fail(eid, `${field} is longer than ${LIMITS.nameBytes} bytes`);
    const problem = nameTextProblem(raw.instance);
    if (problem !== null) return fail(eid, `${field} ${problem}`);
    instance = raw.instance;
  }

  const dims = validateDims(raw.dims);
  // A reason about one entry starts with its key (".site must be …"): no space before it.
  if (typeof dims === "string") {
    return fail(eid, `${fieldName(names, "dims")}${dims.startsWith(".") ? "" : " "}${dims}`);
  }

  return { ok: true, event: { id: eid, server, time, account, metric, kind, value, instance, dims } };
}

/** A field's name in the envelope the event came in. */
function fieldName(names: Readonly<Record<string, string>>, name: string): string {
  return names[name] ?? name;
}

function textFailure(
  raw: RawEvent,
  name: keyof RawEvent,
  limit: number,
  names: Readonly<Record<string, string>>,
): Validated {
  return fail(raw.id, `${fieldName(names, name)} ${textProblem(raw[name], limit)}`);
}

/** Whether a required text field is fine: checked first without building anything, as nearly every one is. */
function isPlainText(v: unknown, limit: number): v is string {
  return typeof v === "string" && v.length > 0 && !longerThan(v, limit) && nameTextProblem(v) === null;
}

/** What is wrong with a required text field that isPlainText refused. */
function textProblem(v: unknown, limit: number): string {
  if (v === undefined || v === null) return "is missing";
  if (typeof v !== "string") return `must be a string, not ${describeType(v)}`;
  if (v.length === 0) return "is empty";
  if (longerThan(v, limit)) return `is longer than ${limit} bytes`;
  return nameTextProblem(v) ?? "is not plain text";
}

/** Whether text takes more than `limit` bytes in UTF-8; a UTF-16 unit takes at most 3, so short text is not. */
function longerThan(text: string, limit: number): boolean {
  return text.length * 3 > limit && Buffer.byteLength(text) > limit;
}

/** Metric names seen valid: a batch names a few metrics many times over. Bounded; emptied when full. */
const validMetricNames = new Set<string>();

function isMetricName(name: string): boolean {
  if (validMetricNames.has(name)) return true;
  if (!METRIC_NAME.test(name)) return false;
  if (validMetricNames.size >= 1024) validMetricNames.clear();
  validMetricNames.add(name);
  return true;
}

function validateDims(raw: unknown): Record<string, string> | null | string {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "object" || Array.isArray(raw)) return `must be an object of strings, not ${describeType(raw)}`;
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) return null;
  if (entries.length > LIMITS.dims) return `has more than ${LIMITS.dims} entries`;
  const dims: Record<string, string> = {};
  for (const [k, v] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!DIM_KEY.test(k) || k.length > LIMITS.dimKeyBytes) return `key "${truncate(k)}" is not a valid name`;
    if (typeof v !== "string") return `.${k} must be a string, not ${describeType(v)}`;
    if (longerThan(v, LIMITS.dimValueBytes)) return `.${k} is longer than ${LIMITS.dimValueBytes} bytes`;
    const problem = nameTextProblem(v);
    if (problem !== null) return `.${k} ${problem}`;
    dims[k] = v;
  }
  return dims;
}

/** The plain JSON form of an event, as the API and the NDJSON files carry it. */
export function eventToJson(event: UsageEvent): Record<string, unknown> {
  const json: Record<string, unknown> = {
    id: event.id,
    server: event.server,
    time: new Date(event.time).toISOString(),
    account: event.account,
    metric: event.metric,
    kind: event.kind,
    value: event.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(event.value) : event.value.toString(),
  };
  if (event.instance !== "") json.instance = event.instance;
  if (event.dims) json.dims = event.dims;
  return json;
}
