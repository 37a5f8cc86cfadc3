// The embedded store: one SQLite file in WAL mode, owned by one Tally process at a time.
//
// Ingest is the hot path. Event keys are random, and a unique B-tree index on random keys costs several
// microseconds per insert, so dedup uses two levels instead: fingerprints of recent events in a fixed-size
// table in memory (RecentKeys), merged in bulk and in key order into the on-disk `event_keys` table when it
// fills. A fingerprint match is always confirmed against the stored event, so dedup is exact.

import Database from "better-sqlite3";
import { AppError } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { compareReadings, heldRows, type Reading, type RollupRow } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { fitsInt64 } from "../../domain/value.js";
import type {
  CurrentLevel,
  CurrentLevelQuery,
  InsertOutcome,
  RollupQuery,
  ServerInfo,
  StoreStats,
  UsageStore,
} from "../port.js";
import { migrate, USAGE_MIGRATIONS } from "./migrations.js";
import { keyFingerprint, RecentKeys } from "./recent-keys.js";

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

interface SeriesState {
  readonly id: number;
  readonly kind: MetricKind;
  lastTime: number | null;
  lastId: string | null;
  lastValue: bigint | null;
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

const SERIES_CACHE_LIMIT = 200_000;
const DEFAULT_RECENT_SLOTS = 1 << 21;

/** Binds an exact integer: INTEGER when it fits 64 bits, decimal text beyond. */
const toDb = (value: bigint): DbValue => (fitsInt64(value) ? value : value.toString());
const big = (value: unknown): bigint => (typeof value === "bigint" ? value : BigInt(value as string | number));
const bigOrNull = (value: unknown): bigint | null => (value === null || value === undefined ? null : big(value));
const num = (value: unknown): number => Number(value);

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
  private diskKeys: boolean;
  private closed = false;
  private readonly sql;

  constructor(options: SqliteStoreOptions) {
    this.description = options.path === ":memory:" ? "sqlite (in memory)" : `sqlite:${options.path}`;
    try {
      this.db = new Database(options.path);
      this.db.pragma("journal_mode = WAL");
      // One process owns the file: the in-memory dedup level is only exact if nobody else writes.
      this.db.pragma("locking_mode = EXCLUSIVE");
      this.db.pragma("synchronous = FULL");
      this.db.pragma(`cache_size = -${(options.cacheMiB ?? 256) * 1024}`);
      this.db.pragma("temp_store = MEMORY");
      migrate(this.db, "usage", USAGE_MIGRATIONS);
    } catch (error) {
      throw openError(options.path, error);
    }
    this.db.defaultSafeIntegers(true);
    this.recent = new RecentKeys(options.recentKeySlots ?? DEFAULT_RECENT_SLOTS);
    const db = this.db;
    this.sql = {
      getMeta: db.prepare("SELECT value FROM meta WHERE key = ?").pluck(),
      setMeta: db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      recentKeys: db.prepare("SELECT fp, seq FROM events WHERE seq > ? ORDER BY seq LIMIT ?").raw(),
      anyDiskKey: db.prepare("SELECT 1 FROM event_keys LIMIT 1").pluck(),
      diskKeys: db.prepare("SELECT fp, seq FROM event_keys WHERE fp IN (SELECT value FROM json_each(?))").raw(),
      insertDiskKey: db.prepare("INSERT INTO event_keys (fp, seq) VALUES (?, ?)"),
      eventKey: db
        .prepare("SELECT e.id, s.server_id FROM events e JOIN series s ON s.id = e.series_id WHERE e.seq = ?")
        .raw(),
      insertEvent: db
        .prepare(
          "INSERT INTO events (fp, series_id, id, time, value, dims, held) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .pluck(),
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
          `SELECT time FROM events WHERE held = 1 AND series_id = ? AND (time > ? OR (time = ? AND id > ?))
         ORDER BY time, id LIMIT 1`,
        )
        .pluck(),
      readingBefore: db.prepare(
        "SELECT time, id, value FROM events WHERE held = 1 AND series_id = ? AND time < ? ORDER BY time DESC, id DESC LIMIT 1",
      ),
      readingsBetween: db.prepare(
        "SELECT time, id, value FROM events WHERE held = 1 AND series_id = ? AND time >= ? AND time < ? ORDER BY time, id",
      ),
      firstReadingFrom: db
        .prepare("SELECT time FROM events WHERE held = 1 AND series_id = ? AND time >= ? ORDER BY time, id LIMIT 1")
        .pluck(),
    };
    this.diskKeys = this.sql.anyDiskKey.get() !== undefined;
    this.loadRecentKeys();
  }

  async insertEvents(events: readonly UsageEvent[]): Promise<InsertOutcome> {
    this.assertOpen();
    if (events.length === 0) return { accepted: 0, duplicates: 0, rejected: [] };
    let outcome: InsertOutcome;
    try {
      outcome = this.db.transaction(() => this.insertBatch(events))();
    } catch (error) {
      // The transaction rolled back: drop what the caches learned from it.
      this.resetCaches();
      throw storeError(error);
    }
    return outcome;
  }

  private insertBatch(events: readonly UsageEvent[]): InsertOutcome {
    const diskMatches = this.diskKeyMatches(events);
    const counters = new Map<string, CounterDelta>();
    const servers = new Map<number, ServerDelta>();
    const rejected: { index: number; reason: string }[] = [];
    let accepted = 0;
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
      if (this.isDuplicate(fp, serverId, e.id, diskMatches)) {
        duplicates++;
        continue;
      }
      const series = this.seriesFor(serverId, e);
      const held = isHeld(kind);
      const seq = num(
        this.sql.insertEvent.get(
          fp,
          series.id,
          e.id,
          e.time,
          toDb(e.value),
          e.dims ? JSON.stringify(e.dims) : null,
          held ? 1 : 0,
        ),
      );
      this.recent.add(fp, seq);
      if (this.recent.full) this.mergeRecentKeys(diskMatches);
      accepted++;
      const server = servers.get(serverId);
      if (server) {
        server.events++;
        if (e.time > server.lastEventTime) server.lastEventTime = e.time;
      } else {
        servers.set(serverId, { lastEventTime: e.time, events: 1 });
      }
      if (held) {
        this.addReading(series, { time: e.time, id: e.id, value: e.value });
      } else {
        const hour = hourOf(e.time);
        const key = `${series.id}:${hour}`;
        const delta = counters.get(key);
        if (delta) {
          delta.sum += e.value;
          delta.count++;
        } else {
          counters.set(key, { seriesId: series.id, hour, sum: e.value, count: 1 });
        }
      }
    }
    for (const delta of counters.values()) this.addCounter(delta);
    const now = Date.now();
    for (const [id, s] of servers) this.sql.touchServer.run(now, s.lastEventTime, s.events, id);
    return { accepted, duplicates, rejected };
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

  private isDuplicate(fp: number, serverId: number, id: string, diskMatches: Map<number, number[]>): boolean {
    const candidates = [...this.recent.candidates(fp), ...(diskMatches.get(fp) ?? [])];
    for (const seq of candidates) {
      const stored = this.sql.eventKey.get(seq) as [string, bigint] | undefined;
      if (stored && stored[0] === id && num(stored[1]) === serverId) return true;
    }
    return false;
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
    if (cached) return cached;
    const row = this.sql.seriesByKey.get(serverId, e.account, e.metric, e.instance) as Row | undefined;
    const state: SeriesState = row
      ? {
          id: num(row.id),
          kind: row.kind as MetricKind,
          lastTime: row.last_time === null ? null : num(row.last_time),
          lastId: row.last_id as string | null,
          lastValue: bigOrNull(row.last_value),
        }
      : {
          id: num(this.sql.insertSeries.get(serverId, e.account, e.metric, e.instance, e.kind)),
          kind: e.kind,
          lastTime: null,
          lastId: null,
          lastValue: null,
        };
    if (this.series.size >= SERIES_CACHE_LIMIT) this.series.clear();
    this.series.set(key, state);
    return state;
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
  private addReading(series: SeriesState, r: Reading): void {
    const last =
      series.lastTime === null
        ? null
        : { time: series.lastTime, id: series.lastId as string, value: series.lastValue as bigint };
    if (last && compareReadings(r, last) < 0) {
      this.recomputeHeld(series.id, r);
      return;
    }
    const hour = hourOf(r.time);
    if (!last) {
      this.sql.setHeld.run(series.id, hour, 1, toDb(r.value), toDb(r.value), 0);
    } else {
      const lastHour = hourOf(last.time);
      const row = this.sql.heldRow.get(series.id, lastHour) as [bigint, unknown, unknown, unknown];
      const max = big(row[2]);
      const integral = big(row[3]);
      if (lastHour === hour) {
        const newMax = r.value > max ? r.value : max;
        const newIntegral = integral + last.value * BigInt(r.time - last.time);
        this.sql.setHeld.run(series.id, hour, num(row[0]) + 1, toDb(r.value), toDb(newMax), toDb(newIntegral));
      } else {
        const closing = integral + last.value * BigInt(lastHour + HOUR_MS - last.time);
        this.sql.setHeld.run(series.id, lastHour, row[0], row[1], row[2], toDb(closing));
        const full = toDb(last.value * BigInt(HOUR_MS));
        const held = toDb(last.value);
        for (let h = lastHour + HOUR_MS; h < hour; h += HOUR_MS)
          this.sql.setHeld.run(series.id, h, 0, held, held, full);
        const newMax = r.value > last.value ? r.value : last.value;
        this.sql.setHeld.run(series.id, hour, 1, toDb(r.value), toDb(newMax), toDb(last.value * BigInt(r.time - hour)));
      }
    }
    series.lastTime = r.time;
    series.lastId = r.id;
    series.lastValue = r.value;
    this.sql.setSeriesLast.run(r.time, r.id, toDb(r.value), series.id);
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
    for (const row of rows) {
      this.sql.setHeld.run(seriesId, row.hour, row.count, toDb(row.last), toDb(row.max), toDb(row.integral));
    }
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

  /** Fills the in-memory dedup level from the events written after the last merge; reads nothing else. */
  private loadRecentKeys(): void {
    this.recent.clear();
    const chunk = this.recent.capacity / 2;
    for (;;) {
      const after = num(this.sql.getMeta.get("dedup_seq") ?? 0);
      const pairs = this.sql.recentKeys.all(after, chunk - this.recent.size) as [bigint, bigint][];
      for (const [fp, seq] of pairs) this.recent.add(num(fp), num(seq));
      if (!this.recent.full) return;
      // More unmerged keys than the table holds (a smaller setting than the last run had): merge, read on.
      this.mergeRecentKeys();
    }
  }

  private resetCaches(): void {
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
    const result = this.db.transaction(() => {
      this.db.exec("DELETE FROM rollups");
      let events = 0;
      let rollups = 0;
      const counters = this.db.prepare(
        `SELECT series_id, time - time % ${HOUR_MS} AS hour, count(*) AS n, group_concat(value) AS vals
         FROM events WHERE held = 0 GROUP BY series_id, hour`,
      );
      for (const row of counters.all() as Row[]) {
        // group_concat keeps huge values exact; SQLite's sum() would go to floating point past 64 bits.
        const sum = String(row.vals)
          .split(",")
          .reduce((s, v) => s + BigInt(v), 0n);
        this.sql.setCounter.run(row.series_id, row.hour, row.n, toDb(sum));
        events += num(row.n);
        rollups++;
      }
      const held = this.db.prepare(
        "SELECT series_id, min(time) AS first, max(time) AS last, count(*) AS n FROM events WHERE held = 1 GROUP BY series_id",
      );
      for (const row of held.all() as Row[]) {
        rollups += this.writeHeldWindow(num(row.series_id), hourOf(num(row.first)), hourOf(num(row.last)));
        events += num(row.n);
        const latest = this.sql.readingBefore.get(row.series_id, num(row.last) + 1) as Row;
        this.sql.setSeriesLast.run(latest.time, latest.id, latest.value, row.series_id);
      }
      return { events, rollups };
    })();
    this.series.clear();
    return result;
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    const count = (table: string) => num(this.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get());
    return { events: count("events"), series: count("series"), rollups: count("rollups") };
  }

  async close(): Promise<void> {
    if (this.closed) return;
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
