// The usage event: one measurement on one server, and the rules that turn untrusted JSON into one.

import { BUILTIN_METRICS, isMetricKind, type MetricKind } from "./metric.js";
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

/** Validates one event; the reason names the field that is wrong. `names` maps our field names to the envelope's. */
export function validateEvent(raw: RawEvent, names: Readonly<Record<string, string>> = {}): Validated {
  const field = (name: string) => names[name] ?? name;
  const id = raw.id;
  const text = (name: keyof RawEvent, limit: number): string | Validated => {
    const v = raw[name];
    if (v === undefined || v === null) return fail(id, `${field(name)} is missing`);
    if (typeof v !== "string") return fail(id, `${field(name)} must be a string, not ${describeType(v)}`);
    if (v.length === 0) return fail(id, `${field(name)} is empty`);
    if (longerThan(v, limit)) return fail(id, `${field(name)} is longer than ${limit} bytes`);
    if (hasLoneSurrogate(v)) return fail(id, `${field(name)} ${LONE_SURROGATE}`);
    return v;
  };
  const eid = text("id", LIMITS.idBytes);
  if (typeof eid !== "string") return eid;
  const server = text("server", LIMITS.nameBytes);
  if (typeof server !== "string") return server;
  const account = text("account", LIMITS.nameBytes);
  if (typeof account !== "string") return account;
  const metric = text("metric", LIMITS.nameBytes);
  if (typeof metric !== "string") return metric;
  if (!isMetricName(metric)) {
    return fail(id, `${field("metric")} "${truncate(metric)}" must be lower-case words separated by dots`);
  }

  if (raw.time === undefined || raw.time === null) return fail(id, `${field("time")} is missing`);
  const time = parseEventTime(raw.time);
  if (typeof time === "string") return fail(id, `${field("time")} ${time}`);

  let kind: MetricKind | undefined = BUILTIN_METRICS[metric];
  if (raw.kind !== undefined && raw.kind !== null) {
    if (!isMetricKind(raw.kind)) return fail(id, `${field("kind")} must be "level", "counter" or "state"`);
    if (kind && raw.kind !== kind) return fail(id, `${field("kind")} "${raw.kind}" contradicts ${metric}, a ${kind}`);
    kind = raw.kind;
  }
  if (!kind) return fail(id, `${field("metric")} "${truncate(metric)}" is not a built-in metric: give its kind`);

  if (raw.value === undefined || raw.value === null) return fail(id, `${field("value")} is missing`);
  const value = parseExactInteger(raw.value);
  if (typeof value === "string") return fail(id, `${field("value")} ${value}`);
  if (value < 0n) return fail(id, `${field("value")} is negative; a ${kind} cannot be`);
  if (kind === "state" && value > 1n) return fail(id, `${field("value")} must be 0 or 1 for a state`);

  let instance = "";
  if (raw.instance !== undefined && raw.instance !== null) {
    if (typeof raw.instance !== "string") {
      return fail(id, `${field("instance")} must be a string, not ${describeType(raw.instance)}`);
    }
    if (longerThan(raw.instance, LIMITS.nameBytes)) {
      return fail(id, `${field("instance")} is longer than ${LIMITS.nameBytes} bytes`);
    }
    if (hasLoneSurrogate(raw.instance)) return fail(id, `${field("instance")} ${LONE_SURROGATE}`);
    instance = raw.instance;
  }

  const dims = validateDims(raw.dims);
  // A reason about one entry starts with its key (".site must be …"): no space before it.
  if (typeof dims === "string") return fail(id, `${field("dims")}${dims.startsWith(".") ? "" : " "}${dims}`);

  return { ok: true, event: { id: eid, server, time, account, metric, kind, value, instance, dims } };
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

/**
 * Text with half of a UTF-16 surrogate pair (JSON allows "\ud800") is not Unicode: UTF-8 cannot carry it, and
 * PostgreSQL would store it as U+FFFD, making two different ids one.
 */
const LONE_SURROGATE = "holds a lone UTF-16 surrogate, which is not Unicode text";
const SURROGATE = /[\uD800-\uDFFF]/;
const UNPAIRED = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function hasLoneSurrogate(text: string): boolean {
  return SURROGATE.test(text) && UNPAIRED.test(text);
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
    if (hasLoneSurrogate(v)) return `.${k} ${LONE_SURROGATE}`;
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
