// The embedded store: one SQLite file in WAL mode, owned by one Tally process at a time.
//
// Ingest is the hot path. Event keys are random, and a unique B-tree index on random keys costs several
// microseconds per insert, so dedup uses two levels instead: fingerprints of recent events in a fixed-size
// table in memory (RecentKeys), merged in bulk and in key order into the on-disk `event_keys` table when it
// fills. A fingerprint match is always confirmed against the stored event, so dedup is exact.
// Events are kept as one row per committed batch (event_blocks), which costs a fraction of a row per event;
// readings of levels and states are also kept one per row, indexed by series and time, for their rollups.
// Counter rollups are written behind: sums gather in memory across batches and go to disk in one transaction
// with a cursor (meta.rollup_seq) every so many events, before every read and on close; on open, the few
// counter events after the cursor are summed again from their blocks, so a crash loses nothing.

import Database from "better-sqlite3";
import { AppError } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { compareReadings, type HeldRow, heldRows, type Reading, type RollupRow } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { fitsInt64 } from "../../domain/value.js";
import { SqlitePetnameStore } from "../../petnames/sqlite-petname-store.js";
import type {
  CurrentLevel,
  CurrentLevelQuery,
  InsertOutcome,
  PetnameStore,
  RollupQuery,
  ServerInfo,
  StoreStats,
  UsageStore,
  UsageTablePage,
  UsageTableQuery,
} from "../port.js";
import { migrate, USAGE_MIGRATIONS } from "./migrations.js";
import { keyFingerprint, RecentKeys } from "./recent-keys.js";
import { SqliteUsageTable } from "./usage-table.js";

export interface SqliteStoreOptions {
  /** A file path, or ":memory:" for tests. */
  readonly path: string;
  /** Slots in the in-memory dedup table (a power of two); it merges to disk when half full. */
  readonly recentKeySlots?: number;
  /** Page cache size in MiB. */
  readonly cacheMiB?: number;
}

type DbValue = bigint | string;
type Row = Record<string, unknown>;

/** One event as kept in an event block: [id, server id, series id, time, value, dims]. */
type BlockEvent = [string, number, number, number, number | string, Readonly<Record<string, string>> | null];

interface SeriesState {
  readonly id: number;
  readonly kind: MetricKind;
  lastTime: number | null;
  lastId: string | null;
  lastValue: bigint | null;
  /** The rollup row of the hour of the latest reading, as last written (held series only). */
  lastRow: HeldRow | null;
}

interface CounterDelta {
  readonly seriesId: number;
  readonly hour: number;
  sum: bigint;
  count: number;
}

interface ServerDelta {
  lastEventTime: number;
  events: number;
}

/** Series kept in memory, least recently used out first: about 150 bytes each. */
const SERIES_CACHE_LIMIT = 400_000;
/** Counter sums held in memory before they are written: bounds both memory and the re-summing on open. */
const COUNTER_FLUSH_EVENTS = 250_000;
const COUNTER_FLUSH_KEYS = 100_000;
const DEFAULT_RECENT_SLOTS = 1 << 21;

/** Binds an exact integer: INTEGER when it fits 64 bits, decimal text beyond. */
const toDb = (value: bigint): DbValue => (fitsInt64(value) ? value : value.toString());
const big = (value: unknown): bigint => (typeof value === "bigint" ? value : BigInt(value as string | number));
const bigOrNull = (value: unknown): bigint | null => (value === null || value === undefined ? null : big(value));
const num = (value: unknown): number => Number(value);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A number naming one (series, hour): series ids stay far below 2^32 and hours since 1970 below 2^21. */
const counterKey = (seriesId: number, hour: number): number => seriesId * 2_097_152 + hour / HOUR_MS;

function addDelta(into: Map<number, CounterDelta>, key: number, delta: CounterDelta): void {
  const known = into.get(key);
  if (known) {
    known.sum += delta.sum;
    known.count += delta.count;
  } else {
    into.set(key, { ...delta });
  }
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteUsageStore> {
  return new SqliteUsageStore(options);
}

export class SqliteUsageStore implements UsageStore {
  readonly description: string;
  /** The connection, for the other SQLite adapters of this process (tokens, petnames …) to share. */
  readonly db: Database.Database;
  private readonly recent: RecentKeys;
  private readonly series = new Map<string, SeriesState>();
  private readonly serverIds = new Map<string, number>();
  private readonly kinds = new Map<string, MetricKind>();
  private readonly blockCache = new Map<number, BlockEvent[]>();
  private diskKeys: boolean;
  private nextSeq = 1;
  private pendingCounters = new Map<number, CounterDelta>();
  private pendingCounterEvents = 0;
  private closed = false;
  private readonly sql;
  readonly petnames: PetnameStore;
  private readonly usageView: SqliteUsageTable;

  constructor(options: SqliteStoreOptions) {
    this.description = options.path === ":memory:" ? "sqlite (in memory)" : `sqlite:${options.path}`;
    try {
      this.db = new Database(options.path, { timeout: 250 }); // another process holding the file is an error, not a wait
      this.db.pragma("journal_mode = WAL");
      // One process owns the file: the in-memory dedup level is only exact if nobody else writes.
      this.db.pragma("locking_mode = EXCLUSIVE");
      this.db.pragma("synchronous = FULL");
      this.db.pragma(`cache_size = -${(options.cacheMiB ?? 64) * 1024}`);
      this.db.pragma("temp_store = MEMORY");
      migrate(this.db, "usage", USAGE_MIGRATIONS);
    } catch (error) {
      throw openError(options.path, error);
    }
    this.db.defaultSafeIntegers(true);
    // The usage table's trigger on series must be in place before the first level is written.
    this.petnames = new SqlitePetnameStore(this.db);
    this.usageView = new SqliteUsageTable(this.db);
    this.recent = new RecentKeys(options.recentKeySlots ?? DEFAULT_RECENT_SLOTS);
    const db = this.db;
    this.sql = {
      getMeta: db.prepare("SELECT value FROM meta WHERE key = ?").pluck(),
      setMeta: db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      blocksAfter: db.prepare(
        "SELECT first_seq, fps FROM event_blocks WHERE first_seq + count - 1 > ? ORDER BY first_seq",
      ),
      blockAt: db
        .prepare("SELECT first_seq, data FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1")
        .raw(),
      insertBlock: db.prepare("INSERT INTO event_blocks (first_seq, count, data, fps) VALUES (?, ?, ?, ?)"),
      nextSeq: db.prepare("SELECT coalesce(max(first_seq + count), 1) FROM event_blocks").pluck(),
      anyDiskKey: db.prepare("SELECT 1 FROM event_keys LIMIT 1").pluck(),
      diskKeys: db.prepare("SELECT fp, seq FROM event_keys WHERE fp IN (SELECT value FROM json_each(?))").raw(),
      insertDiskKey: db.prepare("INSERT INTO event_keys (fp, seq) VALUES (?, ?)"),
      insertReading: db.prepare("INSERT INTO readings (series_id, time, id, value) VALUES (?, ?, ?, ?)"),
      serverByName: db.prepare("SELECT id FROM servers WHERE name = ?").pluck(),
      insertServer: db
        .prepare("INSERT INTO servers (name, last_heard, last_event_time, events) VALUES (?, 0, 0, 0) RETURNING id")
        .pluck(),
      touchServer: db.prepare(
        "UPDATE servers SET last_heard = ?, last_event_time = max(last_event_time, ?), events = events + ? WHERE id = ?",
      ),
      metricKind: db.prepare("SELECT kind FROM metrics WHERE name = ?").pluck(),
      insertMetric: db.prepare("INSERT INTO metrics (name, kind) VALUES (?, ?)"),
      seriesByKey: db.prepare(
        "SELECT id, kind, last_time, last_id, last_value FROM series WHERE server_id = ? AND account = ? AND metric = ? AND instance = ?",
      ),
      insertSeries: db
        .prepare("INSERT INTO series (server_id, account, metric, instance, kind) VALUES (?, ?, ?, ?, ?) RETURNING id")
        .pluck(),
      setSeriesLast: db.prepare("UPDATE series SET last_time = ?, last_id = ?, last_value = ? WHERE id = ?"),
      addCounter: db.prepare(
        `INSERT INTO rollups (series_id, hour, count, sum) VALUES (?, ?, ?, ?)
         ON CONFLICT (series_id, hour) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum`,
      ),
      counterRow: db.prepare("SELECT count, sum FROM rollups WHERE series_id = ? AND hour = ?").raw(),
      setCounter: db.prepare(
        `INSERT INTO rollups (series_id, hour, count, sum) VALUES (?, ?, ?, ?)
         ON CONFLICT (series_id, hour) DO UPDATE SET count = excluded.count, sum = excluded.sum`,
      ),
      heldRow: db.prepare("SELECT count, last, max, integral FROM rollups WHERE series_id = ? AND hour = ?").raw(),
      setHeld: db.prepare(
        `INSERT INTO rollups (series_id, hour, count, last, max, integral) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (series_id, hour) DO UPDATE SET count = excluded.count, last = excluded.last,
           max = excluded.max, integral = excluded.integral`,
      ),
      deleteHeldRows: db.prepare("DELETE FROM rollups WHERE series_id = ? AND hour >= ? AND hour <= ?"),
      readingAfter: db
        .prepare(
          `SELECT time FROM readings WHERE series_id = ? AND (time > ? OR (time = ? AND id > ?))
         ORDER BY time, id LIMIT 1`,
        )
        .pluck(),
      readingBefore: db.prepare(
        "SELECT time, id, value FROM readings WHERE series_id = ? AND time < ? ORDER BY time DESC, id DESC LIMIT 1",
      ),
      readingsBetween: db.prepare(
        "SELECT time, id, value FROM readings WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time, id",
      ),
      firstReadingFrom: db
        .prepare("SELECT time FROM readings WHERE series_id = ? AND time >= ? ORDER BY time, id LIMIT 1")
        .pluck(),
    };
    this.diskKeys = this.sql.anyDiskKey.get() !== undefined;
    this.resetCaches();
    this.replayCounters();
  }

  async insertEvents(events: readonly UsageEvent[]): Promise<InsertOutcome> {
    this.assertOpen();
    if (events.length === 0) return { accepted: 0, duplicates: 0, rejected: [] };
    let batch: ReturnType<SqliteUsageStore["insertBatch"]>;
    try {
      batch = this.db.transaction(() => this.insertBatch(events))();
    } catch (error) {
      // The transaction rolled back: drop what the caches learned from it.
      this.resetCaches();
      throw storeError(error);
    }
    // Only a committed batch reaches the written-behind counter sums.
    for (const [key, delta] of batch.counters) addDelta(this.pendingCounters, key, delta);
    this.pendingCounterEvents += batch.outcome.accepted;
    if (this.pendingCounterEvents >= COUNTER_FLUSH_EVENTS || this.pendingCounters.size >= COUNTER_FLUSH_KEYS) {
      this.flushCounters();
    }
    return batch.outcome;
  }

  private insertBatch(events: readonly UsageEvent[]): { outcome: InsertOutcome; counters: Map<number, CounterDelta> } {
    const diskMatches = this.diskKeyMatches(events);
    const firstSeq = this.nextSeq;
    const block: BlockEvent[] = [];
    const fps: number[] = [];
    const counters = new Map<number, CounterDelta>();
    const servers = new Map<number, ServerDelta>();
    const movedSeries = new Set<SeriesState>();
    const rejected: { index: number; reason: string }[] = [];
    let duplicates = 0;
    for (let index = 0; index < events.length; index++) {
      const e = events[index] as UsageEvent;
      const kind = this.metricKind(e.metric, e.kind);
      if (kind !== e.kind) {
        rejected.push({ index, reason: `kind "${e.kind}" contradicts ${e.metric}, stored as a ${kind}` });
        continue;
      }
      const serverId = this.serverId(e.server);
      const fp = keyFingerprint(e.server, e.id);
      if (this.isDuplicate(fp, serverId, e.id, diskMatches, firstSeq, block)) {
        duplicates++;
        continue;
      }
      const series = this.seriesFor(serverId, e);
      const value = e.value <= MAX_SAFE ? Number(e.value) : e.value.toString();
      block.push([e.id, serverId, series.id, e.time, value, e.dims]);
      fps.push(fp);
      this.recent.add(fp, firstSeq + block.length - 1);
      if (this.recent.full) this.mergeRecentKeys(diskMatches);
      const server = servers.get(serverId);
      if (server) {
        server.events++;
        if (e.time > server.lastEventTime) server.lastEventTime = e.time;
      } else {
        servers.set(serverId, { lastEventTime: e.time, events: 1 });
      }
      if (isHeld(kind)) {
        this.sql.insertReading.run(series.id, e.time, e.id, toDb(e.value));
        if (this.addReading(series, { time: e.time, id: e.id, value: e.value })) movedSeries.add(series);
      } else {
        const hour = hourOf(e.time);
        const key = counterKey(series.id, hour);
        const delta = counters.get(key);
        if (delta) {
          delta.sum += e.value;
          delta.count++;
        } else {
          counters.set(key, { seriesId: series.id, hour, sum: e.value, count: 1 });
        }
      }
    }
    if (block.length > 0) {
      const fpBytes = Buffer.from(new Float64Array(fps).buffer);
      this.sql.insertBlock.run(firstSeq, block.length, JSON.stringify(block), fpBytes);
      this.nextSeq = firstSeq + block.length;
    }
    for (const series of movedSeries) {
      this.sql.setSeriesLast.run(series.lastTime, series.lastId, toDb(series.lastValue as bigint), series.id);
    }
    const now = Date.now();
    for (const [id, s] of servers) this.sql.touchServer.run(now, s.lastEventTime, s.events, id);
    return { outcome: { accepted: block.length, duplicates, rejected }, counters };
  }

  /** Fingerprints of this batch already in the on-disk dedup level, with the events they point to. */
  private diskKeyMatches(events: readonly UsageEvent[]): Map<number, number[]> {
    const matches = new Map<number, number[]>();
    if (!this.diskKeys) return matches;
    const fps = JSON.stringify(events.map((e) => keyFingerprint(e.server, e.id)));
    for (const [fp, seq] of this.sql.diskKeys.all(fps) as [bigint, bigint][]) {
      const list = matches.get(num(fp));
      if (list) list.push(num(seq));
      else matches.set(num(fp), [num(seq)]);
    }
    return matches;
  }

  /** Confirms a fingerprint match against the stored event (or one earlier in this batch): exact dedup. */
  private isDuplicate(
    fp: number,
    serverId: number,
    id: string,
    diskMatches: Map<number, number[]>,
    batchFirstSeq: number,
    batch: readonly BlockEvent[],
  ): boolean {
    const onDisk = diskMatches.get(fp);
    if (!onDisk && !this.recent.has(fp)) return false;
    for (const seq of [...this.recent.candidates(fp), ...(onDisk ?? [])]) {
      const stored = seq >= batchFirstSeq ? batch[seq - batchFirstSeq] : this.storedEvent(seq);
      if (stored && stored[0] === id && stored[1] === serverId) return true;
    }
    return false;
  }

  /** One stored event by sequence number, through a small cache of decoded blocks (retries hit few blocks). */
  private storedEvent(seq: number): BlockEvent | undefined {
    for (const [first, events] of this.blockCache) {
      if (seq >= first && seq < first + events.length) return events[seq - first];
    }
    const row = this.sql.blockAt.get(seq) as [bigint, string] | undefined;
    if (!row) return undefined;
    const first = num(row[0]);
    const events = JSON.parse(row[1]) as BlockEvent[];
    if (this.blockCache.size >= 4) this.blockCache.clear();
    this.blockCache.set(first, events);
    return events[seq - first];
  }

  private metricKind(metric: string, kind: MetricKind): MetricKind {
    const known = this.kinds.get(metric) ?? (this.sql.metricKind.get(metric) as MetricKind | undefined);
    if (known) {
      this.kinds.set(metric, known);
      return known;
    }
    this.sql.insertMetric.run(metric, kind);
    this.kinds.set(metric, kind);
    return kind;
  }

  private serverId(name: string): number {
    let id = this.serverIds.get(name);
    if (id === undefined) {
      id = num(this.sql.serverByName.get(name) ?? this.sql.insertServer.get(name));
      this.serverIds.set(name, id);
    }
    return id;
  }

  private seriesFor(serverId: number, e: UsageEvent): SeriesState {
    const key = `${serverId}\u0000${e.account}\u0000${e.metric}\u0000${e.instance}`;
    const cached = this.series.get(key);
    if (cached) {
      // A Map iterates in insertion order: moving a hit to the end makes the first key the least recently used.
      this.series.delete(key);
      this.series.set(key, cached);
      return cached;
    }
    const row = this.sql.seriesByKey.get(serverId, e.account, e.metric, e.instance) as Row | undefined;
    const state: SeriesState = row
      ? {
          id: num(row.id),
          kind: row.kind as MetricKind,
          lastTime: row.last_time === null ? null : num(row.last_time),
          lastId: row.last_id as string | null,
          lastValue: bigOrNull(row.last_value),
          lastRow: null,
        }
      : {
          id: num(this.sql.insertSeries.get(serverId, e.account, e.metric, e.instance, e.kind)),
          kind: e.kind,
          lastTime: null,
          lastId: null,
          lastValue: null,
          lastRow: null,
        };
    if (this.series.size >= SERIES_CACHE_LIMIT) this.series.delete(this.series.keys().next().value as string);
    this.series.set(key, state);
    return state;
  }

  /** Writes the counter sums gathered in memory, with the cursor that says which events they cover. */
  private flushCounters(): void {
    if (this.pendingCounters.size === 0 && this.pendingCounterEvents === 0) return;
    this.db.transaction(() => {
      // In key order, so the writes walk the rollup table's pages once instead of jumping between them.
      const deltas = [...this.pendingCounters.values()].sort((a, b) => a.seriesId - b.seriesId || a.hour - b.hour);
      for (const delta of deltas) this.addCounter(delta);
      this.sql.setMeta.run("rollup_seq", this.nextSeq);
    })();
    this.pendingCounters = new Map();
    this.pendingCounterEvents = 0;
  }

  /** On open: sums the counter events stored after the cursor again, as the last run had not written them. */
  private replayCounters(): void {
    const from = num(this.sql.getMeta.get("rollup_seq") ?? 1);
    const kinds = new Map<number, boolean>();
    const kindOf = this.db.prepare("SELECT kind FROM series WHERE id = ?").pluck();
    const heldOf = (seriesId: number) => {
      let held = kinds.get(seriesId);
      if (held === undefined) {
        held = isHeld(kindOf.get(seriesId) as MetricKind);
        kinds.set(seriesId, held);
      }
      return held;
    };
    for (const row of this.db
      .prepare("SELECT first_seq, data FROM event_blocks WHERE first_seq + count > ? ORDER BY first_seq")
      .raw()
      .all(from) as [bigint, string][]) {
      const first = num(row[0]);
      (JSON.parse(row[1]) as BlockEvent[]).forEach(([, , seriesId, time, value], i) => {
        if (first + i < from || heldOf(seriesId)) return;
        const hour = hourOf(time);
        addDelta(this.pendingCounters, counterKey(seriesId, hour), { seriesId, hour, sum: BigInt(value), count: 1 });
        this.pendingCounterEvents++;
      });
    }
    this.flushCounters();
  }

  private addCounter(delta: CounterDelta): void {
    try {
      this.sql.addCounter.run(delta.seriesId, delta.hour, delta.count, toDb(delta.sum));
    } catch (error) {
      if (!isCheckFailure(error)) throw error;
      // The sum left 64 bits: add exactly in JavaScript and keep it as decimal text.
      const [count, sum] = this.sql.counterRow.raw().get(delta.seriesId, delta.hour) as [bigint, unknown];
      this.sql.setCounter.run(delta.seriesId, delta.hour, num(count) + delta.count, toDb(big(sum) + delta.sum));
    }
  }

  /** Maintains a held series' rollups: arithmetic for a reading after the latest, recomputation otherwise. */
  /** Returns whether the reading became the series' latest. */
  private addReading(series: SeriesState, r: Reading): boolean {
    const last =
      series.lastTime === null
        ? null
        : { time: series.lastTime, id: series.lastId as string, value: series.lastValue as bigint };
    if (last && compareReadings(r, last) < 0) {
      series.lastRow = null;
      this.recomputeHeld(series.id, r);
      return false;
    }
    const hour = hourOf(r.time);
    let row: HeldRow;
    if (!last) {
      row = { hour, count: 1, last: r.value, max: r.value, integral: 0n };
    } else {
      const lastHour = hourOf(last.time);
      const prev = series.lastRow?.hour === lastHour ? series.lastRow : this.heldRowAt(series.id, lastHour);
      if (lastHour === hour) {
        row = {
          hour,
          count: prev.count + 1,
          last: r.value,
          max: r.value > prev.max ? r.value : prev.max,
          integral: prev.integral + last.value * BigInt(r.time - last.time),
        };
      } else {
        const closing = prev.integral + last.value * BigInt(lastHour + HOUR_MS - last.time);
        this.writeHeldRow(series.id, { ...prev, integral: closing });
        const held = last.value;
        for (let h = lastHour + HOUR_MS; h < hour; h += HOUR_MS) {
          this.writeHeldRow(series.id, { hour: h, count: 0, last: held, max: held, integral: held * BigInt(HOUR_MS) });
        }
        row = {
          hour,
          count: 1,
          last: r.value,
          max: r.value > held ? r.value : held,
          integral: held * BigInt(r.time - hour),
        };
      }
    }
    this.writeHeldRow(series.id, row);
    series.lastRow = row;
    series.lastTime = r.time;
    series.lastId = r.id;
    series.lastValue = r.value;
    return true;
  }

  private heldRowAt(seriesId: number, hour: number): HeldRow {
    const [count, last, max, integral] = this.sql.heldRow.get(seriesId, hour) as [bigint, unknown, unknown, unknown];
    return { hour, count: num(count), last: big(last), max: big(max), integral: big(integral) };
  }

  private writeHeldRow(seriesId: number, row: HeldRow): void {
    this.sql.setHeld.run(seriesId, row.hour, row.count, toDb(row.last), toDb(row.max), toDb(row.integral));
  }

  /** A reading arrived before the series' latest: recompute the whole hours from it to the next reading. */
  private recomputeHeld(seriesId: number, r: Reading): void {
    const fromHour = hourOf(r.time);
    const next = num(this.sql.readingAfter.get(seriesId, r.time, r.time, r.id));
    const toHour = hourOf(next);
    this.writeHeldWindow(seriesId, fromHour, toHour);
  }

  private writeHeldWindow(seriesId: number, fromHour: number, toHour: number): number {
    const carryRow = this.sql.readingBefore.get(seriesId, fromHour) as Row | undefined;
    const carry = carryRow ? toReading(carryRow) : null;
    const readings = (this.sql.readingsBetween.all(seriesId, fromHour, toHour + HOUR_MS) as Row[]).map(toReading);
    const next = this.sql.firstReadingFrom.get(seriesId, toHour + HOUR_MS);
    const rows = heldRows(carry, readings, fromHour, toHour, next === undefined ? null : num(next));
    this.sql.deleteHeldRows.run(seriesId, fromHour, toHour);
    for (const row of rows) this.writeHeldRow(seriesId, row);
    return rows.length;
  }

  /**
   * Moves the in-memory dedup level to disk in key order, with its high-water mark, inside the caller's
   * transaction when there is one. Keys moved during a batch are added to that batch's disk matches.
   */
  private mergeRecentKeys(batchMatches?: Map<number, number[]>): void {
    const pairs = this.recent.sorted();
    let maxSeq = num(this.sql.getMeta.get("dedup_seq") ?? 0);
    this.db.transaction(() => {
      for (const [fp, seq] of pairs) {
        this.sql.insertDiskKey.run(fp, seq);
        if (seq > maxSeq) maxSeq = seq;
        if (batchMatches) batchMatches.set(fp, [...(batchMatches.get(fp) ?? []), seq]);
      }
      this.sql.setMeta.run("dedup_seq", maxSeq);
    })();
    this.recent.clear();
    this.diskKeys = true;
  }

  /** Fills the in-memory dedup level from the fingerprints of the blocks written after the last merge. */
  private loadRecentKeys(): void {
    this.recent.clear();
    const merged = num(this.sql.getMeta.get("dedup_seq") ?? 0);
    for (const row of this.sql.blocksAfter.all(merged) as { first_seq: bigint; fps: Buffer }[]) {
      const first = num(row.first_seq);
      const fps = new Float64Array(new Uint8Array(row.fps).buffer);
      for (let i = 0; i < fps.length; i++) {
        if (first + i <= merged) continue;
        this.recent.add(fps[i] as number, first + i);
        // More unmerged keys than the table holds (a smaller setting than the last run had): merge, read on.
        if (this.recent.full) this.mergeRecentKeys();
      }
    }
  }

  private resetCaches(): void {
    this.nextSeq = num(this.sql.nextSeq.get());
    this.blockCache.clear();
    this.series.clear();
    this.serverIds.clear();
    this.kinds.clear();
    this.loadRecentKeys();
  }

  async currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]> {
    this.assertOpen();
    const where = ["s.metric = ?", "s.last_time IS NOT NULL"];
    const params: unknown[] = [query.metric];
    if (query.accounts) {
      where.push("s.account IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(query.accounts));
    }
    if (query.servers) {
      where.push("v.name IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(query.servers));
    }
    const rows = this.db
      .prepare(
        `SELECT v.name AS server, s.account, s.metric, s.instance, s.last_value, s.last_time
         FROM series s JOIN servers v ON v.id = s.server_id WHERE ${where.join(" AND ")}
         ORDER BY v.name, s.account, s.instance`,
      )
      .all(...params) as Row[];
    return rows.map((r) => ({
      server: r.server as string,
      account: r.account as string,
      metric: r.metric as string,
      instance: r.instance as string,
      value: big(r.last_value),
      time: num(r.last_time),
    }));
  }

  async rollups(query: RollupQuery): Promise<RollupRow[]> {
    this.assertOpen();
    this.flushCounters();
    const where = ["s.account = ?", "r.hour >= ?", "r.hour < ?"];
    const params: unknown[] = [query.account, query.from, query.to];
    if (query.metrics) {
      where.push("s.metric IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(query.metrics));
    }
    if (query.servers) {
      where.push("v.name IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(query.servers));
    }
    return this.selectRollups(where.join(" AND "), params);
  }

  async allRollups(): Promise<RollupRow[]> {
    this.assertOpen();
    this.flushCounters();
    return this.selectRollups("1", []);
  }

  private selectRollups(where: string, params: unknown[]): RollupRow[] {
    const rows = this.db
      .prepare(
        `SELECT v.name AS server, s.account, s.metric, s.instance, s.kind, r.hour, r.count, r.sum, r.last, r.max, r.integral
         FROM rollups r JOIN series s ON s.id = r.series_id JOIN servers v ON v.id = s.server_id
         WHERE ${where} ORDER BY v.name, s.account, s.metric, s.instance, r.hour`,
      )
      .all(...params) as Row[];
    return rows.map((r) => ({
      server: r.server as string,
      account: r.account as string,
      metric: r.metric as string,
      instance: r.instance as string,
      kind: r.kind as MetricKind,
      hour: num(r.hour),
      count: num(r.count),
      sum: bigOrNull(r.sum),
      last: bigOrNull(r.last),
      max: bigOrNull(r.max),
      integral: bigOrNull(r.integral),
    }));
  }

  async servers(): Promise<ServerInfo[]> {
    this.assertOpen();
    const rows = this.db
      .prepare("SELECT name, last_heard, last_event_time, events FROM servers ORDER BY name")
      .all() as Row[];
    return rows.map((r) => ({
      server: r.name as string,
      lastHeard: num(r.last_heard),
      lastEventTime: num(r.last_event_time),
      events: num(r.events),
    }));
  }

  async metricKinds(): Promise<Record<string, MetricKind>> {
    this.assertOpen();
    const rows = this.db.prepare("SELECT name, kind FROM metrics").raw().all() as [string, MetricKind][];
    return Object.fromEntries(rows);
  }

  async rebuildRollups(): Promise<{ events: number; rollups: number }> {
    this.assertOpen();
    this.pendingCounters = new Map();
    this.pendingCounterEvents = 0;
    const result = this.db.transaction(() => {
      this.db.exec("DELETE FROM rollups; DELETE FROM readings");
      this.sql.setMeta.run("rollup_seq", this.nextSeq);
      const kinds = new Map<number, MetricKind>();
      for (const [id, kind] of this.db.prepare("SELECT id, kind FROM series").raw().all() as [bigint, MetricKind][]) {
        kinds.set(num(id), kind);
      }
      const counters = new Map<number, CounterDelta>();
      let events = 0;
      const firsts = this.db.prepare("SELECT first_seq FROM event_blocks ORDER BY first_seq").pluck().all() as bigint[];
      const blockData = this.db.prepare("SELECT data FROM event_blocks WHERE first_seq = ?").pluck();
      for (const first of firsts) {
        for (const [id, , seriesId, time, value] of JSON.parse(blockData.get(first) as string) as BlockEvent[]) {
          events++;
          if (isHeld(kinds.get(seriesId) as MetricKind)) {
            this.sql.insertReading.run(seriesId, time, id, toDb(BigInt(value)));
            continue;
          }
          const hour = hourOf(time);
          const delta = counters.get(counterKey(seriesId, hour));
          if (delta) {
            delta.sum += BigInt(value);
            delta.count++;
          } else counters.set(counterKey(seriesId, hour), { seriesId, hour, sum: BigInt(value), count: 1 });
        }
      }
      for (const d of counters.values()) this.sql.setCounter.run(d.seriesId, d.hour, d.count, toDb(d.sum));
      let rollups = counters.size;
      const held = this.db.prepare(
        "SELECT series_id, min(time) AS first, max(time) AS last FROM readings GROUP BY series_id",
      );
      for (const row of held.all() as Row[]) {
        rollups += this.writeHeldWindow(num(row.series_id), hourOf(num(row.first)), hourOf(num(row.last)));
        const latest = this.sql.readingBefore.get(row.series_id, num(row.last) + 1) as Row;
        this.sql.setSeriesLast.run(latest.time, latest.id, latest.value, row.series_id);
      }
      return { events, rollups };
    })();
    this.series.clear();
    return result;
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    this.assertOpen();
    return this.usageView.usageTable(query);
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    this.flushCounters();
    const count = (table: string) => num(this.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get());
    const events = num(this.db.prepare("SELECT coalesce(sum(count), 0) FROM event_blocks").pluck().get());
    return { events, series: count("series"), rollups: count("rollups") };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushCounters();
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("UNAVAILABLE", "the store is closed");
  }
}

function toReading(row: Row): Reading {
  return { time: num(row.time), id: row.id as string, value: big(row.value) };
}

function isCheckFailure(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code === "SQLITE_CONSTRAINT_CHECK";
}

function openError(path: string, error: unknown): AppError {
  const message = error instanceof Error ? error.message : String(error);
  if (/locked|busy/i.test(message)) {
    return new AppError("UNAVAILABLE", `${path} is in use by another Tally process`, { path });
  }
  return new AppError("UNAVAILABLE", `cannot open the SQLite store at ${path}: ${message}`, { path });
}

function storeError(error: unknown): Error {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AppError("UNAVAILABLE", `the store could not commit the batch: ${message}`);
}
