// The records summary grid accounting portals show: daily average use, summed per site, system, share, media,
// class, group or role (and per day when asked), over metered usage and imported records alike.

import { validation } from "../domain/errors.js";
import { compareUtf8 } from "../domain/rollup.js";
import type { UsageReader } from "../store/port.js";
import { csvField } from "../usage/render-usage-table.js";
import { parseRecordTime } from "./export-request.js";
import { exportStarRecords, PERIOD_MS } from "./export-star.js";
import type { StarRecord } from "./star.js";
import type { StarConfig } from "./star-config.js";

export const SUMMARY_KEYS = ["site", "system", "share", "media", "class", "group", "role", "day"] as const;
export type SummaryKey = (typeof SUMMARY_KEYS)[number];

export interface SummaryRequest {
  readonly from: number;
  readonly to: number;
  readonly by: readonly SummaryKey[];
  readonly format: "json" | "csv";
}

const VALUES = [
  ["resource_capacity_used", "resourceCapacityUsed"],
  ["logical_capacity_used", "logicalCapacityUsed"],
  ["resource_capacity_allocated", "resourceCapacityAllocated"],
  ["file_count", "fileCount"],
] as const;

export interface SummaryRow {
  readonly key: Readonly<Partial<Record<SummaryKey, string>>>;
  /** How many daily records went into the row. */
  readonly records: number;
  /** Per value: the sum of the daily averages, divided by the days the row spans (rounded down). */
  readonly values: Readonly<Record<(typeof VALUES)[number][0], bigint>>;
}

export function parseSummaryRequest(
  raw: { from?: string | undefined; to?: string | undefined; by?: string | undefined; format?: string | undefined },
  maxDays: number,
): SummaryRequest {
  const from = parseRecordTime(raw.from, "from");
  const to = parseRecordTime(raw.to, "to");
  const day = PERIOD_MS.day;
  if (from % day !== 0 || to % day !== 0) throw validation("from and to must be dates (00:00 UTC)");
  if (to <= from) throw validation("to must be after from");
  if ((to - from) / day > maxDays) throw validation(`the range holds more than ${maxDays} days`);
  const by = (raw.by ?? "site,system").split(",").map((k) => k.trim());
  for (const k of by) {
    if (!(SUMMARY_KEYS as readonly string[]).includes(k)) {
      throw validation(`by may name ${SUMMARY_KEYS.join(", ")}; not "${k}"`);
    }
  }
  const format = raw.format ?? "json";
  if (format !== "json" && format !== "csv") throw validation(`format must be json or csv, not "${format}"`);
  return { from, to, by: [...new Set(by)] as SummaryKey[], format };
}

function keyOf(r: StarRecord, by: readonly SummaryKey[]): Partial<Record<SummaryKey, string>> {
  const all: Record<SummaryKey, string | undefined> = {
    site: r.site,
    system: r.storageSystem,
    share: r.storageShare,
    media: r.storageMedia,
    class: r.storageClass,
    group: r.subject?.group,
    role: r.subject?.groupAttributes?.find((a) => a.type === "role")?.value,
    day: new Date(r.startTime).toISOString().slice(0, 10),
  };
  const key: Partial<Record<SummaryKey, string>> = {};
  for (const k of by) key[k] = all[k] ?? "";
  return key;
}

export async function summarizeRecords(
  reader: UsageReader,
  request: SummaryRequest,
  config: StarConfig,
): Promise<SummaryRow[]> {
  const rows = new Map<string, { key: Partial<Record<SummaryKey, string>>; records: number; sums: bigint[] }>();
  const records = exportStarRecords(reader, {
    from: request.from,
    to: request.to,
    period: "day",
    capacity: "average",
    config,
    now: 0,
  });
  for await (const r of records) {
    const key = keyOf(r, request.by);
    const id = JSON.stringify(request.by.map((k) => key[k]));
    let row = rows.get(id);
    if (!row) {
      row = { key, records: 0, sums: VALUES.map(() => 0n) };
      rows.set(id, row);
    }
    row.records++;
    VALUES.forEach(([, field], i) => {
      (row.sums as bigint[])[i] = (row.sums[i] as bigint) + (r[field] ?? 0n);
    });
  }
  const days = BigInt(request.by.includes("day") ? 1 : (request.to - request.from) / PERIOD_MS.day);
  return [...rows.entries()]
    .sort(([a], [b]) => compareUtf8(a, b))
    .map(([, row]) => ({
      key: row.key,
      records: row.records,
      values: Object.fromEntries(
        VALUES.map(([name], i) => [name, (row.sums[i] as bigint) / days]),
      ) as SummaryRow["values"],
    }));
}

export function summaryJson(request: SummaryRequest, rows: readonly SummaryRow[]): unknown {
  return {
    from: new Date(request.from).toISOString(),
    to: new Date(request.to).toISOString(),
    by: request.by,
    rows: rows.map((r) => ({
      ...r.key,
      records: r.records,
      ...Object.fromEntries(Object.entries(r.values).map(([k, v]) => [k, v.toString()])),
    })),
  };
}

export function summaryCsv(request: SummaryRequest, rows: readonly SummaryRow[]): string {
  const header = [...request.by, "records", ...VALUES.map(([name]) => name)];
  const lines = [header.join(",")];
  for (const r of rows) {
    lines.push(
      [
        ...request.by.map((k) => csvField(r.key[k] ?? "")),
        String(r.records),
        ...VALUES.map(([name]) => r.values[name].toString()),
      ].join(","),
    );
  }
  return `${lines.join("\n")}\n`;
}
