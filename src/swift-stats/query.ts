// The parameters of a swift-stats query, from the query string (`&` or `;`) or the X- headers, checked once.

import { validation } from "../domain/errors.js";
import { HOUR_MS, hourOf } from "../domain/time.js";
import { parseQueryPairs } from "./query-string.js";
import { parseSwiftTime } from "./swift-time.js";

export const QUERY_METHODS = ["io_sum", "io_detail", "space_detail"] as const;
export type QueryMethod = (typeof QUERY_METHODS)[number];
export type Format = "json" | "xml";
/** Hours with nothing to show: left out (none), or given as zeros (zero, io_detail) or the levels held (previous). */
export type Fill = "none" | "zero" | "previous";

/** The fill each method takes besides none: io_sum has no hours to fill. */
const FILLS: Record<QueryMethod, Fill | null> = { io_sum: null, io_detail: "zero", space_detail: "previous" };

export interface SwiftStatsQuery {
  readonly method: QueryMethod;
  readonly account: string;
  /**
   * The range answered, epoch ms, from inclusive, to exclusive: the range asked widened to the whole hours it
   * overlaps, since usage is kept by hour. The answer's header says this range, not the one asked.
   */
  readonly fromHour: number;
  readonly toHour: number;
  readonly format: Format;
  readonly fill: Fill;
}

/** What the parser needs of a request: its raw URL and its headers. */
export interface QuerySource {
  readonly url: string;
  header(name: string): string | undefined;
}

const DAY_MS = 24 * HOUR_MS;
const MAX_ACCOUNT_BYTES = 256;

interface Param {
  readonly query: string;
  readonly header: string;
}

const PARAMS = {
  account: { query: "account_id", header: "X-Account-Id" },
  begin: { query: "begin_time", header: "X-Begin-Time" },
  end: { query: "end_time", header: "X-End-Time" },
  format: { query: "format", header: "X-Format" },
  fill: { query: "fill", header: "X-Fill" },
} as const satisfies Record<string, Param>;

/**
 * `method` is the path's (`/io_sum` …), or null for `GET /`, which takes it from X-Query-Method. A parameter may
 * come from the query string or its header; given in both, or twice, it must say the same thing each time.
 */
export function parseSwiftStatsQuery(
  method: QueryMethod | null,
  source: QuerySource,
  maxDays: number,
): SwiftStatsQuery {
  const pairs = parseQueryPairs(source.url);
  if (pairs === null) throw validation("the query string is not valid percent-encoded UTF-8");
  const get = (p: Param): string | undefined => {
    const values = pairs.filter(([k]) => k === p.query).map(([, v]) => v);
    const header = source.header(p.header);
    if (header !== undefined) values.push(headerText(header));
    const distinct = [...new Set(values.map((v) => v.trim()))];
    if (distinct.length > 1) throw validation(`${names(p)} is given more than once, with different values`);
    return distinct[0];
  };

  const chosen = chosenMethod(method, source.header("X-Query-Method"));

  const account = get(PARAMS.account);
  if (account === undefined || account === "") throw validation(`${names(PARAMS.account)} is missing`);
  if (Buffer.byteLength(account) > MAX_ACCOUNT_BYTES) {
    throw validation(`${names(PARAMS.account)} is longer than ${MAX_ACCOUNT_BYTES} bytes`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f]/.test(account)) {
    throw validation(`${names(PARAMS.account)} must not contain control characters`);
  }

  const begin = time(PARAMS.begin, get(PARAMS.begin));
  const end = time(PARAMS.end, get(PARAMS.end));
  if (begin > end) throw validation(`${names(PARAMS.begin)} is after ${names(PARAMS.end)}`);

  const rawFormat = get(PARAMS.format);
  const format = (rawFormat ?? "json").toLowerCase();
  if (format !== "json" && format !== "xml") {
    throw validation(`${names(PARAMS.format)} must be json or xml, not "${rawFormat?.slice(0, 20)}"`);
  }

  const fill = fillOf(chosen, get(PARAMS.fill));

  // An empty range stays empty rather than widening to an hour nobody asked for.
  const fromHour = hourOf(begin);
  const toHour = begin === end ? fromHour : hourOf(end - 1) + HOUR_MS;
  if (toHour - fromHour > maxDays * DAY_MS) {
    throw validation(
      `${names(PARAMS.end)} is more than ${maxDays} days after ${names(PARAMS.begin)}: ask for a shorter range`,
    );
  }
  return { method: chosen, account, fromHour, toHour, format, fill };
}

/** The path's method, or X-Query-Method's for GET /; given both, they must agree, as any other parameter given twice. */
function chosenMethod(path: QueryMethod | null, raw: string | undefined): QueryMethod {
  const m = raw?.trim();
  if (path !== null) {
    if (m === undefined || m === path) return path;
    throw validation(
      `X-Query-Method says "${m.slice(0, 20)}" but the path is /${path}: drop the header or make them agree`,
    );
  }
  if (m === undefined || m === "") {
    throw validation(`X-Query-Method is missing: GET / needs one of ${QUERY_METHODS.join(", ")}`);
  }
  if (!(QUERY_METHODS as readonly string[]).includes(m)) {
    throw validation(`X-Query-Method must be one of ${QUERY_METHODS.join(", ")}, not "${m.slice(0, 20)}"`);
  }
  return m as QueryMethod;
}

function fillOf(method: QueryMethod, raw: string | undefined): Fill {
  const fill = (raw ?? "none").toLowerCase();
  if (fill === "none") return "none";
  const allowed = FILLS[method];
  if (allowed === null) throw validation(`${names(PARAMS.fill)} applies to io_detail and space_detail, not ${method}`);
  if (fill !== allowed) {
    throw validation(`${names(PARAMS.fill)} must be none or ${allowed} for ${method}, not "${raw?.slice(0, 20)}"`);
  }
  return allowed;
}

function time(p: Param, raw: string | undefined): number {
  if (raw === undefined || raw === "") throw validation(`${names(p)} is missing`);
  const t = parseSwiftTime(raw);
  if (typeof t === "string") throw validation(`${names(p)}: ${t}`);
  return t;
}

function names(p: Param): string {
  return `${p.query} (or ${p.header})`;
}

/** Node hands header bytes over as Latin-1; an account id sent as UTF-8 is read back as UTF-8. */
export function headerText(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is the common case and needs nothing
  if (/^[\u0000-\u007f]*$/.test(value)) return value;
  const bytes = Buffer.from(value, "latin1");
  const utf8 = bytes.toString("utf8");
  return Buffer.from(utf8, "utf8").equals(bytes) ? utf8 : value;
}
