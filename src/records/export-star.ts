// Export: usage read through the UsageReader port, turned into one StAR record per interval × server × place ×
// identity (× directory, where the series' instance is a path).

import { hash } from "node:crypto";
import type { DayRow } from "../domain/day-usage.js";
import { validation } from "../domain/errors.js";
import { compareSeriesByAccount, compareUtf8, type Dims, dimsKey, type RollupRow, seriesId } from "../domain/rollup.js";
import { HOUR_MS } from "../domain/time.js";
import type { AccountsReader, CurrentLevel, UsageReader } from "../store/port.js";
import { accountPages } from "../store/rollup-pages.js";
import type { StarRecord, SubjectIdentity } from "./star.js";
import { placeOf, type StarConfig, type StarPlace, subjectOf } from "./star-config.js";

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
  /** Accounts read in one page (default EXPORT_PAGE_ACCOUNTS). */
  readonly pageAccounts?: number;
}

/**
 * Accounts whose usage an export reads at once and turns into records before reading the next: few, so that what a
 * read gathers stays young.
 */
export const EXPORT_PAGE_ACCOUNTS = 100;

/** Checks an export's range: whole periods, from before to, at most `maxPeriods` of them. */
export function checkExportRange(from: number, to: number, period: StarPeriod, maxPeriods: number): void {
  const step = PERIOD_MS[period];
  const what = period === "day" ? "a day boundary (00:00 UTC)" : "an hour boundary";
  if (from % step !== 0) throw validation(`from must fall on ${what} for period ${period}`);
  if (to % step !== 0) throw validation(`to must fall on ${what} for period ${period}`);
  if (to <= from) throw validation("to must be after from");
  if ((to - from) / step > maxPeriods) throw validation(`the range holds more than ${maxPeriods} ${period}s`);
}

export interface Group {
  readonly start: number;
  readonly record: {
    -readonly [K in keyof StarRecord]: StarRecord[K];
  };
}

/** One series of a record metric over the range: its value in each interval it reports on. */
interface SeriesValues {
  readonly server: string;
  readonly metric: RecordMetric;
  readonly instance: string;
  readonly dims: Dims;
  readonly intervals: IntervalValue[];
}

interface IntervalValue {
  readonly start: number;
  /** Value × ms over the interval, from the series' first reading, the latest reading held to the interval's end. */
  readonly integral: bigint;
  /** The value at the interval's end. */
  readonly last: bigint;
}

/** Some accounts' series over the range, by account. */
type ReadSeries = (
  reader: AccountsReader,
  accounts: readonly string[],
  options: ExportOptions,
) => Promise<Map<string, SeriesValues[]>>;

/** Groups whose identity several accounts may share, by key: they go out last, summed. */
export type SharedGroups = Map<string, Group>;

/** What a page of accounts gives: records that can go out at once, and groups of identities others may share. */
export interface PageRecords {
  readonly records: StarRecord[];
  readonly shared: [string, Group][];
}

/** A page a pool made: its records written out in UTF-8, and the groups of identities others may share. */
export interface PageAnswer {
  readonly bytes: Uint8Array;
  readonly shared: [string, Group][];
}

/** Makes the records of pages of accounts in other threads. */
export interface PagePool {
  run(accounts: readonly string[]): Promise<PageAnswer>;
  /** Pages given and not yet answered beyond which the export waits for the oldest. */
  readonly depth: number;
  close(): Promise<void>;
}

/**
 * Pages an export makes itself before it gives the rest to a pool: a small export is over before threads would have
 * started. The pool starts after the first half of them, so that it is ready by then.
 */
export const POOL_AFTER_PAGES = 20;

/**
 * The records of [from, to), account by account, read a page of accounts at a time: by day from the days a store
 * keeps (a day of a series is one row), by hour from the hourly rollups. Accounts the configuration maps (whose
 * identity others may share) are read first, and their records come last, summed with any other account of the
 * same identity; every other account's records go out as soon as its page is read.
 */
export async function* exportStarRecords(reader: UsageReader, options: ExportOptions): AsyncGenerator<StarRecord> {
  for await (const part of exportParts(reader, options)) yield* part as StarRecord[];
}

/**
 * The export in parts, in order: records, or, for pages a pool made, those records written out. With `startPool`, the
 * pages after the first POOL_AFTER_PAGES go to the pool it starts, several at once.
 */
export async function* exportParts(
  reader: UsageReader,
  options: ExportOptions,
  startPool?: () => Promise<PagePool>,
): AsyncGenerator<StarRecord[] | Uint8Array> {
  checkExportRange(options.from, options.to, options.period, Number.MAX_SAFE_INTEGER);
  const pageAccounts = options.pageAccounts ?? EXPORT_PAGE_ACCOUNTS;
  const shared: SharedGroups = new Map();
  const places = new PlaceCache(options.config);
  const mapped = Object.keys(options.config.accounts).sort(compareUtf8);
  for (let i = 0; i < mapped.length; i += pageAccounts) {
    const accounts = mapped.slice(i, i + pageAccounts);
    addShared(shared, (await readPageRecords(reader, accounts, options, places)).shared);
  }
  let starting: Promise<PagePool> | null = null;
  let pool: PagePool | null = null;
  const waiting: Promise<PageAnswer>[] = [];
  try {
    let pages = 0;
    for await (const page of accountPages(reader, METRIC_NAMES, pageAccounts)) {
      const accounts = page.filter((a) => !isMapped(options, a));
      if (accounts.length === 0) continue;
      pages++;
      if (startPool !== undefined && starting === null && pages > POOL_AFTER_PAGES / 2) {
        starting = startPool();
        // Awaited once its pages come, or when the export ends before them.
        starting.catch(() => {});
      }
      if (starting !== null && pool === null && pages > POOL_AFTER_PAGES) pool = await starting;
      if (pool === null) {
        const { records, shared: more } = await readPageRecords(reader, accounts, options, places);
        addShared(shared, more);
        yield records;
        continue;
      }
      waiting.push(pool.run(accounts));
      if (waiting.length >= pool.depth) yield await answered(waiting.shift() as Promise<PageAnswer>, shared);
    }
    for (let next = waiting.shift(); next; next = waiting.shift()) yield await answered(next, shared);
  } finally {
    // Answers not taken (the export was stopped or failed) are let go: the pool is closing.
    for (const p of waiting) p.catch(() => {});
    await (pool ?? (await starting?.catch(() => null)))?.close();
  }
  yield [...shared.values()].sort((a, b) => a.start - b.start).map((g) => g.record);
}

async function answered(answer: Promise<PageAnswer>, shared: SharedGroups): Promise<Uint8Array> {
  const { bytes, shared: more } = await answer;
  addShared(shared, more);
  return bytes;
}

function addShared(shared: SharedGroups, groups: readonly [string, Group][]): void {
  for (const [key, group] of groups) {
    const into = shared.get(key);
    if (into) addValues(into, group);
    else shared.set(key, group);
  }
}

/** A page of accounts' records: read, then split into those that can go out now and those others may share. */
export async function readPageRecords(
  reader: AccountsReader,
  accounts: readonly string[],
  options: ExportOptions,
  places: PlaceCache,
): Promise<PageRecords> {
  const read: ReadSeries = options.period === "day" ? seriesByDay : seriesByHour;
  const series = await read(reader, accounts, options);
  const records: StarRecord[] = [];
  const shared: [string, Group][] = [];
  const localUsers = mappedLocalUsers(options.config);
  for (const account of accounts) {
    // An identity that names the account itself is its own, unless the configuration gives it to another account.
    const own = !isMapped(options, account) && !localUsers.has(account);
    for (const entry of accountGroups(account, series.get(account) ?? [], options, places)) {
      if (own && holdsAccount(entry[1].record.subject, account)) records.push(entry[1].record);
      else shared.push(entry);
    }
  }
  return { records, shared };
}

const localUsersOf = new WeakMap<StarConfig, ReadonlySet<string>>();

/** The LocalUsers the configuration gives mapped accounts. */
function mappedLocalUsers(config: StarConfig): ReadonlySet<string> {
  let found = localUsersOf.get(config);
  if (found === undefined) {
    found = new Set(Object.values(config.accounts).flatMap((m) => (m.local_user === undefined ? [] : [m.local_user])));
    localUsersOf.set(config, found);
  }
  return found;
}

const isMapped = (options: ExportOptions, account: string) => options.config.accounts[account] !== undefined;

/** The accounts' series by day: each day row of a level is an interval. A series' days come one after another. */
async function seriesByDay(
  reader: AccountsReader,
  accounts: readonly string[],
  options: ExportOptions,
): Promise<Map<string, SeriesValues[]>> {
  const days = await reader.accountsDays({ accounts, from: options.from, to: options.to, metrics: METRIC_NAMES });
  const out = new Map<string, SeriesValues[]>();
  let previous: DayRow | undefined;
  let series: SeriesValues | undefined;
  for (const d of days) {
    if (d.integral === null || d.last === null) continue;
    if (series === undefined || previous === undefined || compareSeriesByAccount(previous, d) !== 0) {
      series = {
        server: d.server,
        metric: d.metric as RecordMetric,
        instance: d.instance,
        dims: d.dims,
        intervals: [],
      };
      const list = out.get(d.account);
      if (list) list.push(series);
      else out.set(d.account, [series]);
    }
    previous = d;
    series.intervals.push({ start: d.day, integral: d.integral, last: d.last });
  }
  return out;
}

/**
 * The accounts' series by the period's intervals, from their hourly rollups and current levels: each interval sums
 * its hours, and an interval after the latest reading holds its value (as a level holds until the next reading).
 */
async function seriesByHour(
  reader: AccountsReader,
  accounts: readonly string[],
  options: ExportOptions,
): Promise<Map<string, SeriesValues[]>> {
  const levels = await levelsOf(reader, accounts);
  const rows = await reader.accountsRollups({ accounts, from: options.from, to: options.to, metrics: METRIC_NAMES });
  const bySeries = new Map<string, RollupRow[]>();
  for (const r of rows) {
    const key = seriesId(r);
    const list = bySeries.get(key);
    if (list) list.push(r);
    else bySeries.set(key, [r]);
  }
  const step = PERIOD_MS[options.period];
  const out = new Map<string, SeriesValues[]>();
  for (const level of levels) {
    const hours = (bySeries.get(seriesId(level)) ?? []).sort((a, b) => a.hour - b.hour);
    const intervals: IntervalValue[] = [];
    let held: bigint | null = level.time < options.from ? level.value : null;
    let next = 0;
    for (let start = options.from; start < options.to; start += step) {
      const end = start + step;
      let integral = 0n;
      let last = held;
      let rowsIn = false;
      for (let r = hours[next]; r && r.hour < end; r = hours[++next]) {
        integral += r.integral ?? 0n;
        last = r.last;
        rowsIn = true;
      }
      if (last === null) continue;
      if (!rowsIn) {
        integral = last * BigInt(step);
      } else if (level.time >= start && level.time < end) {
        // After the series' latest reading its level holds, though no rollup counts that time yet.
        integral += level.value * BigInt(end - level.time);
      }
      held = last;
      intervals.push({ start, integral, last });
    }
    const { account, server, instance, dims } = level;
    const series = { server, metric: level.metric as RecordMetric, instance, dims, intervals };
    const list = out.get(account);
    if (list) list.push(series);
    else out.set(account, [series]);
  }
  return out;
}

/** The current levels of the record metrics of some accounts. */
async function levelsOf(reader: AccountsReader, accounts: readonly string[]): Promise<CurrentLevel[]> {
  let levels: CurrentLevel[] = [];
  // concat, not push(...): a page of accounts with many instances is more arguments than a call takes.
  for (const metric of METRIC_NAMES) levels = levels.concat(await reader.currentLevels({ metric, accounts }));
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

/** Where a series' records go: its place and identity, and their part of the records' key. */
interface Where {
  readonly place: StarPlace;
  readonly subject: SubjectIdentity;
  /** `server,place,identity,directory]`: the key is `[start,` and this, the JSON of those five (recordIdOf). */
  readonly keyTail: string;
}

/**
 * The places of an export's servers, by server and kept dims, as JSON once: an export makes a record for every account
 * on every server, from few places. Bounded, since dims may make many.
 */
export class PlaceCache {
  private readonly places = new Map<string, { readonly place: StarPlace; readonly json: string }>();

  constructor(private readonly config: StarConfig) {}

  get(server: string, dims: Dims, dimsText: string): { readonly place: StarPlace; readonly json: string } {
    const key = `${server}\u0000${dimsText}`;
    let found = this.places.get(key);
    if (found === undefined) {
      if (this.places.size >= 10_000) this.places.clear();
      const place = placeOf(this.config, server, dims);
      found = { place, json: `${JSON.stringify(server)},${JSON.stringify(place)}` };
      this.places.set(key, found);
    }
    return found;
  }
}

/**
 * One account's groups: per interval, server, place, identity and directory, the sum of its series' values. Series
 * come by server, so those of one place and directory (a server's bytes and files) follow each other: each takes the
 * one before's Where and, for the same interval, its group, without building and looking up their keys again.
 */
function accountGroups(
  account: string,
  series: readonly SeriesValues[],
  options: ExportOptions,
  places: PlaceCache,
): Map<string, Group> {
  const groups = new Map<string, Group>();
  const step = BigInt(PERIOD_MS[options.period]);
  /** The account's identity and its JSON, by kept dims. */
  const subjects = new Map<string, { readonly subject: SubjectIdentity; readonly json: string } | null>();
  const whereOf = (server: string, dims: Dims, dimsText: string, path: string | undefined): Where | null => {
    const { place, json: placeJson } = places.get(server, dims, dimsText);
    if (options.site !== undefined && place.site !== options.site) return null;
    let identity = subjects.get(dimsText);
    if (identity === undefined) {
      const subject = subjectOf(options.config, account, dims);
      identity = subject === null ? null : { subject, json: JSON.stringify(subject) };
      subjects.set(dimsText, identity);
    }
    if (identity === null) return null;
    return {
      place,
      subject: identity.subject,
      keyTail: `${placeJson},${identity.json},${JSON.stringify(path ?? null)}]`,
    };
  };
  let previous: { server: string; dimsText: string; path: string | undefined; where: Where | null } | undefined;
  let lastGroup: Group | undefined;
  let lastWhere: Where | undefined;
  for (const { server, metric, instance, dims, intervals } of series) {
    const dimsText = dimsKey(dims);
    const path = instance.startsWith("/") ? instance : undefined;
    if (previous?.server !== server || previous.dimsText !== dimsText || previous.path !== path) {
      previous = { server, dimsText, path, where: whereOf(server, dims, dimsText, path) };
    }
    const { where } = previous;
    if (where === null) continue;
    const field = RECORD_METRICS[metric];
    for (const { start, integral, last } of intervals) {
      // A series that stood at 0 all interval (a record's end, usage deleted) has nothing to report.
      if (last === 0n && integral === 0n) continue;
      const value = options.capacity === "end" ? last : integral / step;
      let group = where === lastWhere && start === lastGroup?.start ? lastGroup : undefined;
      if (!group) {
        const key = `[${start},${where.keyTail}`;
        group = groups.get(key);
        if (!group) {
          const end = start + PERIOD_MS[options.period];
          group = { start, record: newRecord(start, end, server, where, path, key, options.now) };
          groups.set(key, group);
        }
      }
      lastGroup = group;
      lastWhere = where;
      group.record[field] = (group.record[field] ?? 0n) + value;
    }
  }
  return groups;
}

function newRecord(
  start: number,
  end: number,
  server: string,
  { place, subject }: Where,
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

/**
 * Stable: the same interval, server, place, identity and directory give the same id in every export. `key` is the JSON
 * of [start, server, place, identity, directory or null].
 */
function recordIdOf(server: string, start: number, key: string, end: number): string {
  const digest = hash("sha256", `${key}\n${end}`, "hex").slice(0, 24);
  return `${server}/${compactTime(start)}/${digest}`;
}

let compactCache = { time: Number.NaN, text: "" };

/** A time as 20261102T000000Z; an export asks for few, each many times. */
function compactTime(time: number): string {
  if (compactCache.time !== time) {
    compactCache = { time, text: new Date(time).toISOString().replace(/[-:]/g, "").replace(".000", "") };
  }
  return compactCache.text;
}
