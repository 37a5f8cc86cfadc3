// What a /usage request asks for, read from its query string, and the opaque cursors that page through it.

import { validation } from "../domain/errors.js";
import { LIMITS, METRIC_NAME } from "../domain/event.js";
import { nameTextProblem } from "../domain/text.js";
import { parseEventTime } from "../domain/time.js";
import type { UsagePosition, UsageSort, UsageTableQuery } from "../store/port.js";

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
/** Accounts in one subset: the same as the largest page. */
export const MAX_SUBSET = 10_000;
export const MAX_SEARCH = 200;
export const DEFAULT_METRIC = "storage.bytes";

export type UsageFormat = "html" | "json" | "csv";

/** A usage table query as the request gave it, with how to answer it. */
export interface UsageRequest extends UsageTableQuery {
  readonly format: UsageFormat | null;
  /** Whether limit was given (links keep it only then). */
  readonly limitGiven: boolean;
  /** When the snapshot the cursor names was read (its first page). */
  readonly snapshotTime?: number | undefined;
}

/** Reads the query string; anything malformed is a VALIDATION error naming the parameter. */
export function parseUsageRequest(params: URLSearchParams): UsageRequest {
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw validation(`${name} is given ${all.length} times; give it once`);
    return all[0];
  };
  const formatText = one("format");
  let format: UsageFormat | null = null;
  if (formatText !== undefined && formatText !== "") {
    if (formatText !== "html" && formatText !== "json" && formatText !== "csv") {
      throw validation(`format must be html, json or csv, not "${formatText.slice(0, 20)}"`);
    }
    format = formatText;
  }

  const metric = one("metric") || DEFAULT_METRIC;
  if (!METRIC_NAME.test(metric) || metric.length > LIMITS.nameBytes) {
    throw validation(`metric "${metric.slice(0, 40)}" is not a metric name like storage.bytes`);
  }

  const sortText = one("sort") || "total";
  const sort: UsageSort =
    sortText === "total"
      ? { by: "total" }
      : sortText === "account"
        ? { by: "account" }
        : { by: "server", server: sortText };

  const limitText = one("limit");
  let limit = DEFAULT_LIMIT;
  if (limitText !== undefined && limitText !== "") {
    if (!/^\d{1,6}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_LIMIT) {
      throw validation(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
    }
    limit = Number(limitText);
  }

  const afterText = one("after");
  const beforeText = one("before");
  if (afterText && beforeText) throw validation("give after or before, not both");
  const cursor = afterText || beforeText ? decodeCursor((afterText || beforeText) as string, sort, metric) : undefined;

  const accounts = listParam(params, "account", "accounts");
  if (accounts && accounts.length > MAX_SUBSET) throw validation(`a subset may name at most ${MAX_SUBSET} accounts`);
  for (const a of accounts ?? []) {
    if (Buffer.byteLength(a) > LIMITS.nameBytes) throw validation(`account is longer than ${LIMITS.nameBytes} bytes`);
  }
  const servers = listParam(params, "server", "servers");

  const searchText = one("q")?.trim();
  if (searchText && searchText.length > MAX_SEARCH) throw validation(`q is longer than ${MAX_SEARCH} characters`);

  const atText = one("at")?.trim();
  const at = atText ? parseTime(atText) : undefined;
  if (at !== undefined && at > Date.now() + 60_000) throw validation("at is in the future");

  return {
    format,
    metric,
    sort,
    limit,
    limitGiven: limitText !== undefined && limitText !== "",
    after: afterText ? cursor?.position : undefined,
    before: beforeText ? cursor?.position : undefined,
    snapshot: cursor?.snapshot?.token,
    snapshotTime: cursor?.snapshot?.time,
    accounts,
    search: searchText || undefined,
    servers,
    at,
  };
}

/** A list from repeated `single=` parameters and comma-separated `plural=` ones; undefined when neither is given. */
export function listParam(params: URLSearchParams, single: string, plural: string): string[] | undefined {
  const given = [...params.getAll(single), ...params.getAll(plural).flatMap((v) => v.split(","))]
    .map((v) => v.trim())
    .filter((v) => v !== "");
  if (params.getAll(single).length === 0 && params.getAll(plural).length === 0) return undefined;
  return [...new Set(given)];
}

/** RFC 3339, epoch milliseconds, a date (midnight UTC), or a browser's datetime-local value (taken as UTC). */
export function parseTime(text: string): number {
  if (/^\d+$/.test(text)) {
    const t = parseEventTime(Number(text));
    if (typeof t === "string") throw validation(`at ${t}`);
    return t;
  }
  const local = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2})?)?$/.exec(text);
  const normalized = local ? `${local[1]}T${local[2] ?? "00:00"}${local[3] ?? ":00"}Z` : text;
  const t = parseEventTime(normalized);
  if (typeof t === "string") throw validation(`at ${t}`);
  return t;
}

interface CursorBody {
  /** Sort: "total", "account" or "server:<id>". */
  s: string;
  m: string;
  /** The row's sort value as a decimal string, or null. */
  v: string | null;
  a: string;
  /** The snapshot the pages are read at (the store's token), when the store gave one, and its time (epoch ms). */
  n?: string;
  t?: number;
}

/** What a cursor holds: a row's place in the order, and the snapshot its pages are read at. */
export interface UsageCursor {
  readonly position: UsagePosition;
  readonly snapshot?: { readonly token: string; readonly time: number } | undefined;
}

function sortKey(sort: UsageSort): string {
  return sort.by === "server" ? `server:${sort.server}` : sort.by;
}

/**
 * An opaque cursor: the sort, the metric, the row's position (sort value and account) and the snapshot, base64url
 * JSON.
 */
export function encodeCursor(
  position: UsagePosition,
  sort: UsageSort,
  metric: string,
  snapshot?: UsageCursor["snapshot"],
): string {
  const body: CursorBody = {
    s: sortKey(sort),
    m: metric,
    v: position.value === null ? null : position.value.toString(),
    a: position.account,
  };
  if (snapshot !== undefined) {
    body.n = snapshot.token;
    body.t = snapshot.time;
  }
  return Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** Milliseconds a Date can hold (±100,000,000 days around 1970). */
function isDateTime(t: unknown): t is number {
  return Number.isSafeInteger(t) && Math.abs(t as number) <= 8.64e15;
}

export function decodeCursor(text: string, sort: UsageSort, metric: string): UsageCursor {
  let body: CursorBody;
  try {
    body = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as CursorBody;
  } catch {
    throw validation("the cursor is not one this table gave out");
  }
  if (
    typeof body !== "object" ||
    body === null ||
    typeof body.s !== "string" ||
    typeof body.m !== "string" ||
    typeof body.a !== "string" ||
    !(
      (body.n === undefined && body.t === undefined) ||
      (typeof body.n === "string" && body.n.length <= 200 && isDateTime(body.t))
    ) ||
    nameTextProblem(body.a) !== null ||
    nameTextProblem(body.n ?? "") !== null ||
    !(body.v === null || (typeof body.v === "string" && /^(0|[1-9][0-9]{0,80})$/.test(body.v)))
  ) {
    throw validation("the cursor is not one this table gave out");
  }
  if (body.s !== sortKey(sort) || body.m !== metric) {
    throw validation(
      `the cursor pages a table sorted by ${body.s} of ${body.m}; keep the sort and metric it came with`,
    );
  }
  const position = { value: body.v === null ? null : BigInt(body.v), account: body.a };
  return body.n === undefined ? { position } : { position, snapshot: { token: body.n, time: body.t as number } };
}
