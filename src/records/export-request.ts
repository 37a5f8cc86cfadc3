// What an export asks for, read the same way from CLI flags and a query string, and the document it streams.

import { validation } from "../domain/errors.js";
import { parseEventTime } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { exportThreads, startExportPool } from "./export-pool.js";
import { type CapacityMode, checkExportRange, exportParts, PERIOD_MS, type StarPeriod } from "./export-star.js";
import type { StarConfig } from "./star-config.js";
import { renderRecords, STAR_XML_HEAD, STAR_XML_TAIL, type StarFormat } from "./write-star.js";

export interface ExportRequest {
  readonly from: number;
  readonly to: number;
  readonly period: StarPeriod;
  readonly capacity: CapacityMode;
  readonly site?: string | undefined;
  readonly format: StarFormat;
}

export interface RawExportRequest {
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly period?: string | undefined;
  readonly capacity?: string | undefined;
  readonly site?: string | undefined;
  readonly format?: string | undefined;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A time as a record range takes it: a date (its 00:00 UTC) or an RFC 3339 time. */
export function parseRecordTime(raw: string | undefined, name: string): number {
  if (raw === undefined || raw === "")
    throw validation(`${name} is missing (a date like 2026-11-01 or an RFC 3339 time)`);
  const time = parseEventTime(DATE.test(raw) ? `${raw}T00:00:00Z` : raw);
  if (typeof time === "string") throw validation(`${name} ${time}`);
  return time;
}

function oneOf<T extends string>(raw: string | undefined, name: string, values: readonly T[], fallback: T): T {
  if (raw === undefined || raw === "") return fallback;
  if (!(values as readonly string[]).includes(raw))
    throw validation(`${name} must be one of ${values.join(", ")}, not "${raw}"`);
  return raw as T;
}

/** Checks an export request; `maxDays` bounds its range. */
export function parseExportRequest(raw: RawExportRequest, maxDays: number): ExportRequest {
  const from = parseRecordTime(raw.from, "from");
  const to = parseRecordTime(raw.to, "to");
  const period = oneOf(raw.period, "period", ["day", "hour"] as const, "day");
  const capacity = oneOf(raw.capacity, "capacity", ["end", "average"] as const, "end");
  const format = oneOf(raw.format, "format", ["star-xml", "star-json"] as const, "star-xml");
  checkExportRange(from, to, period, Math.floor((maxDays * PERIOD_MS.day) / PERIOD_MS[period]));
  if (raw.site === "") throw validation("site is empty");
  return { from, to, period, capacity, site: raw.site, format };
}

export const STAR_CONTENT_TYPE: Record<StarFormat, string> = {
  "star-xml": "application/xml; charset=utf-8",
  "star-json": "application/json; charset=utf-8",
};

export interface RenderOptions {
  /** Threads that make the records: at 1, this one; above, a large export starts that many (export-pool.ts). */
  readonly threads?: number;
  /** Characters in a piece of the document this thread writes. */
  readonly chunk?: number;
  /** Accounts read at once (EXPORT_PAGE_ACCOUNTS). */
  readonly pageAccounts?: number;
}

/**
 * The export as a document in UTF-8, in pieces of about `chunk` bytes or a page a pool wrote, so that a large one is
 * never held whole.
 */
export async function* renderStarExport(
  reader: UsageReader,
  request: ExportRequest,
  config: StarConfig,
  now: number,
  { threads = exportThreads(), chunk = 1 << 16, pageAccounts }: RenderOptions = {},
): AsyncGenerator<Uint8Array> {
  // Whole seconds: some receivers read createTime without fractions.
  const options = { ...request, config, now: now - (now % 1000), ...(pageAccounts ? { pageAccounts } : {}) };
  const pool = threads > 1 ? () => startExportPool(reader, options, request.format, threads) : undefined;
  const xml = request.format === "star-xml";
  const encoder = new TextEncoder();
  let buffer = xml ? STAR_XML_HEAD : '{"StorageUsageRecords":[';
  let first = true;
  for await (const part of exportParts(reader, options, pool)) {
    if (part instanceof Uint8Array) {
      if (part.length === 0) continue;
      if (buffer !== "") yield encoder.encode(buffer);
      buffer = "";
      // JSON records each come after a comma: the first one of the document after none.
      yield first && !xml ? part.subarray(1) : part;
      first = false;
      continue;
    }
    const text = renderRecords(part, request.format);
    buffer += first && !xml ? text.slice(1) : text;
    if (text !== "") first = false;
    if (buffer.length >= chunk) {
      yield encoder.encode(buffer);
      buffer = "";
    }
  }
  yield encoder.encode(buffer + (xml ? STAR_XML_TAIL : "]}\n"));
}
