// Export: usage read through the UsageReader port, turned into one StAR record per interval × server × place ×
// identity (× directory, where the series' instance is a path).

import { createHash } from "node:crypto";
import { validation } from "../domain/errors.js";
import { compareUtf8, type Dims, dimsKey, type RollupRow } from "../domain/rollup.js";
import { HOUR_MS } from "../domain/time.js";
import type { CurrentLevel, UsageReader } from "../store/port.js";
import type { StarRecord, SubjectIdentity } from "./star.js";
import { placeOf, type StarConfig, subjectOf } from "./star-config.js";

export type StarPeriod = "hour" | "day";
export type CapacityMode = "end" | "average";

export const PERIOD_MS: Record<StarPeriod, number> = { hour: HOUR_MS, day: 24 * HOUR_MS };

/** The level metrics a record is made of, and the field each fills. */
export const RECORD_METRICS = {
  "storage.bytes": "resourceCapacityUsed",
  "storage.files": "fileCount",
  "storage.reserved": "resourceCapacityAllocated",
  "storage.logical_bytes": "logicalCapacityUsed",
} as const;
type RecordMetric = keyof typeof RECORD_METRICS;
const METRIC_NAMES = Object.keys(RECORD_METRICS) as RecordMetric[];

export interface ExportOptions {
  /** Epoch ms, on a period boundary (UTC). */
  readonly from: number;
  readonly to: number;
  readonly period: StarPeriod;
  readonly capacity: CapacityMode;
  /** Only records of this Site. */
  readonly site?: string | undefined;
  readonly config: StarConfig;
  /** The records' createTime. */
  readonly now: number;
  /** Mapped accounts read at once (PostgreSQL answers them in parallel). */
  readonly concurrency?: number;
  /** Other accounts read in one page. */
  readonly pageAccounts?: number;
}

/** Checks an export's range: whole periods, from before to, at most `maxPeriods` of them. */
export function checkExportRange(from: number, to: number, period: StarPeriod, maxPeriods: number): void {
  const step = PERIOD_MS[period];
  const what = period === "day" ? "a day boundary (00:00 UTC)" : "an hour boundary";
  if (from % step !== 0) throw validation(`from must fall on ${what} for period ${period}`);
  if (to % step !== 0) throw validation(`to must fall on ${what} for period ${period}`);
  if (to <= from) throw validation("to must be after from");
  if ((to - from) / step > maxPeriods) throw validation(`the range holds more than ${maxPeriods} ${period}s`);
}

const seriesKey = (server: string, metric: string, instance: string, dims: Dims) =>
  JSON.stringify([server, metric, instance, dimsKey(dims)]);

interface Group {
  readonly start: number;
  readonly record: {
    -readonly [K in keyof StarRecord]: StarRecord[K];
  };
}

/**
 * The records of [from, to), account by account. Accounts the configuration maps (whose identity others may share)
 * are read first, one by one, and their records come last, summed with any other account of the same identity; the
 * others are read in pages of accounts, and as each one's identity holds its own id, its records go out as soon
 * as its page is read.
 */
export async function* exportStarRecords(reader: UsageReader, options: ExportOptions): AsyncGenerator<StarRecord> {
  checkExportRange(options.from, options.to, options.period, Number.MAX_SAFE_INTEGER);
  const shared = new Map<string, Group>();
  /** Adds an account's groups to those shared, and returns the records that can go out now. */
  const take = (account: string, levels: readonly CurrentLevel[], rows: readonly RollupRow[]): StarRecord[] => {
    const out: StarRecord[] = [];
    for (const [key, group] of accountGroups(account, levels, rows, options)) {
      const into = shared.get(key);
      if (into) addValues(into, group);
      else if (isMapped(options, account) || !holdsAccount(group.record.subject, account)) shared.set(key, group);
      else out.push(group.record);
    }
    return out;
  };
  const mapped = Object.keys(options.config.accounts).sort(compareUtf8);
  if (mapped.length > 0) {
    const levels = await levelsOf(reader, mapped);
    const present = mapped.filter((a) => levels.has(a));
    const concurrency = options.concurrency ?? 8;
    for (let i = 0; i < present.length; i += concurrency) {
      const chunk = present.slice(i, i + concurrency);
      const rows = await Promise.all(
        chunk.map((account) => reader.rollups({ account, from: options.from, to: options.to, metrics: METRIC_NAMES })),
      );
      for (let j = 0; j < chunk.length; j++) {
        const account = chunk[j] as string;
        yield* take(account, levels.get(account) ?? [], rows[j] ?? []);
      }
    }
  }
  const pages = reader.rollupPages({
    from: options.from,
    to: options.to,
    metrics: METRIC_NAMES,
    pageAccounts: options.pageAccounts,
  });
  for await (const page of pages) {
    const accounts = page.accounts.filter((a) => !isMapped(options, a));
    if (accounts.length === 0) continue;
    // Levels are read for the page's accounts only, so that memory stays bounded by the page, not the store.
    const levels = await levelsOf(reader, accounts);
    let at = 0;
    for (const account of page.accounts) {
      const first = at;
      while (at < page.rows.length && (page.rows[at] as RollupRow).account === account) at++;
      if (isMapped(options, account)) continue;
      yield* take(account, levels.get(account) ?? [], page.rows.slice(first, at));
    }
  }
  yield* [...shared.values()].sort((a, b) => a.start - b.start).map((g) => g.record);
}

const isMapped = (options: ExportOptions, account: string) => options.config.accounts[account] !== undefined;

/** The current levels of the record metrics of some accounts, by account. */
async function levelsOf(reader: UsageReader, accounts: readonly string[]): Promise<Map<string, CurrentLevel[]>> {
  const levels = new Map<string, CurrentLevel[]>();
  for (const metric of METRIC_NAMES) {
    for (const level of await reader.currentLevels({ metric, accounts })) {
      const list = levels.get(level.account);
      if (list) list.push(level);
      else levels.set(level.account, [level]);
    }
  }
  return levels;
}

/** Whether an identity names the account itself, so that no other account can share it. */
function holdsAccount(subject: SubjectIdentity | undefined, account: string): boolean {
  return subject?.localUser === account;
}

function addValues(into: Group, from: Group): void {
  for (const field of Object.values(RECORD_METRICS)) {
    const v = from.record[field];
    if (v !== undefined) into.record[field] = (into.record[field] ?? 0n) + v;
  }
}

/** One account's groups: per interval, server, place, identity and directory, the sum of its series' values. */
function accountGroups(
  account: string,
  levels: readonly CurrentLevel[],
  rows: readonly RollupRow[],
  options: ExportOptions,
): Map<string, Group> {
  const bySeries = new Map<string, RollupRow[]>();
  for (const r of rows) {
    const key = seriesKey(r.server, r.metric, r.instance, r.dims);
    const list = bySeries.get(key);
    if (list) list.push(r);
    else bySeries.set(key, [r]);
  }
  const groups = new Map<string, Group>();
  const step = PERIOD_MS[options.period];
  for (const level of levels) {
    const dims = level.dims;
    const place = placeOf(options.config, level.server, dims);
    if (options.site !== undefined && place.site !== options.site) continue;
    const subject = subjectOf(options.config, account, dims);
    if (subject === null) continue;
    const path = level.instance.startsWith("/") ? level.instance : undefined;
    const field = RECORD_METRICS[level.metric as RecordMetric];
    const series = (bySeries.get(seriesKey(level.server, level.metric, level.instance, dims)) ?? []).sort(
      (a, b) => a.hour - b.hour,
    );
    let held: bigint | null = level.time < options.from ? level.value : null;
    let next = 0;
    for (let start = options.from; start < options.to; start += step) {
      const end = start + step;
      let integral = 0n;
      let last = held;
      let rowsIn = false;
      for (let r = series[next]; r && r.hour < end; r = series[++next]) {
        integral += r.integral ?? 0n;
        last = r.last;
        rowsIn = true;
      }
      if (last === null) continue;
      if (!rowsIn) {
        if (last === 0n) continue;
        integral = last * BigInt(step);
      } else if (level.time >= start && level.time < end) {
        // After the series' latest reading its level holds, though no rollup counts that time yet.
        integral += level.value * BigInt(end - level.time);
      }
      held = last;
      // A series that stood at 0 all interval (a record's end, usage deleted) has nothing to report.
      if (last === 0n && integral === 0n) continue;
      const value = options.capacity === "end" ? last : integral / BigInt(step);
      const key = JSON.stringify([start, level.server, place, subject, path ?? null]);
      let group = groups.get(key);
      if (!group) {
        group = { start, record: newRecord(start, end, level.server, place, subject, path, key, options.now) };
        groups.set(key, group);
      }
      group.record[field] = (group.record[field] ?? 0n) + value;
    }
  }
  return groups;
}

function newRecord(
  start: number,
  end: number,
  server: string,
  place: ReturnType<typeof placeOf>,
  subject: SubjectIdentity,
  path: string | undefined,
  key: string,
  now: number,
): Group["record"] {
  const record: Group["record"] = {
    recordId: recordIdOf(server, start, key, end),
    createTime: now,
    storageSystem: server,
    startTime: start,
    endTime: end,
    resourceCapacityUsed: 0n,
    subject,
  };
  if (place.site !== undefined) record.site = place.site;
  if (place.share !== undefined) record.storageShare = place.share;
  if (place.media !== undefined) record.storageMedia = place.media;
  if (place.class !== undefined) record.storageClass = place.class;
  if (path !== undefined) record.directoryPath = path;
  return record;
}

/** Stable: the same interval, server, place, identity and directory give the same id in every export. */
function recordIdOf(server: string, start: number, key: string, end: number): string {
  const hash = createHash("sha256").update(`${key}\n${end}`).digest("hex").slice(0, 24);
  const compact = new Date(start).toISOString().replace(/[-:]/g, "").replace(".000", "");
  return `${server}/${compact}/${hash}`;
}
