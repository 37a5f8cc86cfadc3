// The embedded store: one SQLite file in WAL mode, owned by one Tally process at a time.
//
// Ingest is the hot path, and a batch commits only what cannot be derived: the events themselves, as one row per
// batch (event_blocks), which costs a fraction of a row per event, the keys that deduplicate them (DedupKeys), and
// the servers and metrics they name. A fingerprint match is always confirmed against the stored event, so dedup
// is exact.
// Everything else (series, readings, rollups, the usage table's sums) is derived from the events after the
// commit, on a worker thread that writes it behind into a database of its own (deriver.ts, derive-worker.ts),
// which this connection attaches as `derived` to read; every read brings it up to date first.
//
// A derived database that cannot be opened or read (a damaged header, a truncated file, malformed pages found by a
// read or a write) is moved aside, never mended, and derived again from the log: at open, or as soon as it is found,
// the read that found it waiting for the new one. The event log is never touched by this.
//
// A store opened at ":memory:" lives in a temporary directory, removed on close: the worker needs files.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { migrate } from "../../db/sqlite-migrate.js";
import { AppError, messageOf } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import { fillHeldGaps, type RollupRow, seriesId } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import type {
  CurrentLevel,
  CurrentLevelQuery,
  InsertOutcome,
  RollupQuery,
  ServerInfo,
  StoreStats,
  UsageStore,
  UsageTablePage,
  UsageTableQuery,
} from "../port.js";
import { DedupKeys } from "./dedup-keys.js";
import { isDamage, moveAside } from "./derived-damage.js";
import { Deriver } from "./deriver.js";
import { LATEST_READING, USAGE_MIGRATIONS } from "./migrations.js";
import {
  BlockBuilder,
  type BlockIds,
  blockColumns,
  forWorker,
  type LogBlock,
  REFS,
  readBlock,
} from "./packed-block.js";
import { PETNAME_MIGRATIONS } from "./petname-tables.js";
import { keyFingerprint } from "./recent-keys.js";
import { SqliteUsageTable } from "./usage-table.js";
import { big, bigOrNull, num } from "./values.js";

export interface SqliteStoreOptions {
  /** A file path, or ":memory:" for tests. */
  readonly path: string;
  /** Slots in each in-memory dedup table (a power of two); one half full is frozen and moved to disk. */
  readonly recentKeySlots?: number;
  /** Events whose derived state is held in memory before it is written (tests set it low). */
  readonly derivedFlushEvents?: number;
  /** Series kept in memory (tests set it low). */
  readonly seriesCacheSize?: number;
  /** Bits of the series fingerprints used (tests set it low, so that series share fingerprints). */
  readonly seriesFingerprintBits?: number;
  /** Changed usage sums held in memory between reads before they are written anyway (tests set it low). */
  readonly usageFlushChanges?: number;
  /** Page cache size in MiB. */
  readonly cacheMiB?: number;
  /** Where the store says what it did on its own (a damaged derived database moved aside); stdout if none. */
  readonly logger?: StoreLog;
}

/** What the store logs through (a pino logger is one). */
export interface StoreLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** For stores opened without a logger (tests, tools): one JSON line on standard error. */
const STDERR_LOG: StoreLog = {
  warn: (fields, message) => process.stderr.write(`${JSON.stringify({ level: "warn", ...fields, msg: message })}\n`),
  error: (fields, message) => process.stderr.write(`${JSON.stringify({ level: "error", ...fields, msg: message })}\n`),
};

type Row = Record<string, unknown>;

interface ServerDelta {
  lastEventTime: number;
  events: number;
}

interface CommittedBatch {
  readonly outcome: InsertOutcome;
  readonly firstSeq: number;
  /** The events accepted, as the log stores them. */
  readonly block: LogBlock;
}

const DEFAULT_RECENT_SLOTS = 1 << 21;

/** A row of event_blocks: first_seq, refs, numbers, text. */
type BlockRow = [bigint, Buffer, Buffer, string];

const toBlock = (row: BlockRow): LogBlock => readBlock(num(row[0]), row[1], row[2], row[3]);
/** Counter rollups of a range up to this many hours are read by seeking each hour of each series. */
const MAX_SEEK_HOURS = 24 * 549;
/** A counter rollup row in the columns of the rollups table (the first part of a compound SELECT names them). */
const COUNTER_COLUMNS =
  "v.name AS server, s.account, s.metric, s.instance, s.kind, c.hour, c.count, c.sum, NULL AS last, NULL AS max, NULL AS integral, NULL AS last_time";

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteUsageStore> {
  const temporary = options.path === ":memory:" ? fs.mkdtempSync(path.join(os.tmpdir(), "tally-")) : null;
  const file = temporary ? path.join(temporary, "tally.sqlite") : options.path;
  try {
    const store = new SqliteUsageStore(file, temporary, options);
    await store.startDeriving();
    return store;
  } catch (error) {
    if (temporary) fs.rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}

/** The derived database beside a store's file: tally.sqlite → tally-derived.sqlite. */
export function derivedPath(file: string): string {
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-derived${ext}`;
}

export class SqliteUsageStore implements UsageStore {
  readonly description: string;
  /** The connection, for the backend to build the other SQLite adapters of this process on. */
  readonly db: Database.Database;
  private readonly dedup: DedupKeys;
  private deriver!: Deriver;
  /** Moves on each time a derived database is attached: a read that failed on an earlier one just reads again. */
  private generation = 0;
  /** Why the derived database is being (or was to be) replaced, until a new one is attached. */
  private damage: string | null = null;
  private replacing: Promise<void> | null = null;
  private readonly serverIds = new Map<string, number>();
  private readonly kinds = new Map<string, MetricKind>();
  private readonly blockCache = new Map<number, LogBlock>();
  private nextSeq = 1;
  private closed = false;
  private readonly sql;
  private usageView!: SqliteUsageTable;

  /** Opens the event log; startDeriving, which openSqliteStore calls next, makes it a store. */
  constructor(
    private readonly file: string,
    /** The temporary directory of a ":memory:" store. */
    private readonly temporary: string | null,
    private readonly options: SqliteStoreOptions,
  ) {
    this.description = temporary ? "sqlite (temporary, removed on close)" : `sqlite:${file}`;
    try {
      this.db = new Database(file, { timeout: 250 }); // another process holding the file is an error, not a wait
      this.db.pragma("journal_mode = WAL");
      // Checkpoint every 40 MiB of log rather than every 4 (the default): each checkpoint syncs the database file,
      // and pages written again meanwhile are copied once.
      this.db.pragma("wal_autocheckpoint = 10000");
      // One process owns the file: the in-memory dedup level and the derived state are only right if nobody else
      // writes. The derived database, attached later, is shared with the worker that writes it.
      this.db.pragma("main.locking_mode = EXCLUSIVE");
      this.db.pragma(`synchronous = ${temporary ? "OFF" : "FULL"}`);
      this.db.pragma(`cache_size = -${(options.cacheMiB ?? 64) * 1024}`);
      this.db.pragma("temp_store = MEMORY");
      migrate(this.db, "usage", USAGE_MIGRATIONS);
      migrate(this.db, "petnames", PETNAME_MIGRATIONS);
    } catch (error) {
      throw openError(file, error);
    }
    this.db.defaultSafeIntegers(true);
    const db = this.db;
    this.sql = {
      blockStarts: db
        .prepare("SELECT first_seq FROM event_blocks WHERE first_seq + count > ? ORDER BY first_seq")
        .pluck(),
      block: db.prepare("SELECT first_seq, refs, numbers, text FROM event_blocks WHERE first_seq = ?").raw(),
      eventCount: db.prepare("SELECT coalesce(sum(count), 0) FROM event_blocks").pluck(),
      blockAt: db
        .prepare(
          "SELECT first_seq, refs, numbers, text FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1",
        )
        .raw(),
      insertBlock: db.prepare(
        "INSERT INTO event_blocks (first_seq, count, fps, refs, numbers, text) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      nextSeq: db.prepare("SELECT coalesce(max(first_seq + count), 1) FROM event_blocks").pluck(),
      serverByName: db.prepare("SELECT id FROM servers WHERE name = ?").pluck(),
      insertServer: db
        .prepare("INSERT INTO servers (name, last_heard, last_event_time, events) VALUES (?, 0, 0, 0) RETURNING id")
        .pluck(),
      touchServer: db.prepare(
        "UPDATE servers SET last_heard = ?, last_event_time = max(last_event_time, ?), events = events + ? WHERE id = ?",
      ),
      metricKind: db.prepare("SELECT kind FROM metrics WHERE name = ?").pluck(),
      insertMetric: db.prepare("INSERT INTO metrics (name, kind) VALUES (?, ?)"),
    };
    this.dedup = new DedupKeys(this.db, options.recentKeySlots ?? DEFAULT_RECENT_SLOTS);
    this.resetCaches();
  }

  /**
   * Starts the derivation worker on the derived database, attaches it, and sends it the events it lacks. A damaged
   * derived database is moved aside, and a new one derived.
   */
  async startDeriving(): Promise<void> {
    try {
      await this.attachDerived().catch(async (error: unknown) => {
        if (!isDamage(error)) throw error;
        this.moveDerivedAside(messageOf(error));
        await this.attachDerived();
      });
    } catch (error) {
      this.db.close();
      throw openError(derivedPath(this.file), error);
    }
  }

  /** Starts a worker on the derived database and attaches it; if either fails, neither is left behind. */
  private async attachDerived(): Promise<void> {
    const { options } = this;
    const derived = derivedPath(this.file);
    const generation = this.generation + 1;
    const deriver = await Deriver.start(
      {
        path: derived,
        cacheMiB: options.cacheMiB ?? 64,
        synchronous: this.temporary ? "OFF" : "NORMAL",
        derived: {
          flushEvents: options.derivedFlushEvents,
          seriesCacheSize: options.seriesCacheSize,
          fingerprintBits: options.seriesFingerprintBits,
          usageFlushChanges: options.usageFlushChanges,
        },
      },
      {
        end: () => this.nextSeq,
        blockStarts: (seq) => (this.sql.blockStarts.all(seq) as bigint[]).map(num),
        block: (first) => forWorker(toBlock(this.sql.block.get(first) as BlockRow)),
      },
      // Found by the worker as it writes behind, perhaps with no read to find it: replaced now.
      (reason) => {
        if (generation !== this.generation) return;
        this.replaceDerived(reason).catch((error: unknown) => {
          this.log.error({ err: error }, `could not replace the damaged derived database: ${messageOf(error)}`);
        });
      },
    );
    try {
      this.db.prepare("ATTACH DATABASE ? AS derived").run(derived);
      this.db.pragma(`derived.cache_size = -${(options.cacheMiB ?? 64) * 1024}`);
    } catch (error) {
      await deriver.abandon();
      throw error;
    }
    this.deriver = deriver;
    this.generation = generation;
    this.damage = null;
    this.usageView = new SqliteUsageTable(this.db, (seq) => this.deriver.hold(seq));
  }

  private get log(): StoreLog {
    return this.options.logger ?? STDERR_LOG;
  }

  /** Renames the derived database and its -wal and -shm out of the way, and says so. */
  private moveDerivedAside(reason: string): void {
    const file = derivedPath(this.file);
    const movedTo = moveAside(file);
    this.log.warn(
      { derived: file, movedTo, reason },
      `the derived database ${file} is damaged (${reason}): moved it to ${movedTo}; deriving it again from the event log`,
    );
  }

  /** Stops the worker, detaches the damaged derived database, moves it aside and derives a new one: once at a time. */
  private replaceDerived(reason: string): Promise<void> {
    this.replacing ??= (async () => {
      this.damage = reason;
      await this.deriver.abandon("the derived database is being derived again");
      const attached = this.db.pragma("database_list") as { name: string }[];
      if (attached.some((d) => d.name === "derived")) this.db.exec("DETACH DATABASE derived");
      this.moveDerivedAside(reason);
      await this.attachDerived();
    })().finally(() => {
      this.replacing = null;
    });
    return this.replacing;
  }

  /**
   * Runs a read of the derived database once it covers every event committed. If the read finds the derived database
   * damaged, it is replaced (replaceDerived) and the read made again on the new one, which waits for it to be derived.
   */
  private async readDerived<T>(read: () => T | Promise<T>): Promise<T> {
    this.assertOpen();
    const generation = this.generation;
    try {
      await this.deriver.sync();
      return await read();
    } catch (error) {
      await this.recoverFrom(error, generation);
    }
    this.assertOpen();
    await this.deriver.sync();
    return read();
  }

  /** After a failed read: returns once a damaged derived database is replaced, or throws the read's error. */
  private async recoverFrom(error: unknown, generation: number): Promise<void> {
    if (this.replacing) return this.replacing;
    if (generation !== this.generation) return;
    const reason = await this.derivedDamage(error);
    if (reason === null) throw error;
    if (generation !== this.generation) return;
    return this.replaceDerived(reason);
  }

  /** Why the derived database is damaged, or null when it is not found to be. */
  private async derivedDamage(error: unknown): Promise<string | null> {
    const known = () => this.damage ?? this.deriver.damage;
    if (known() !== null || !isDamage(error)) return known();
    // A read joins both files: a check of the derived one says whether it is the damaged one (a rare, slow path).
    const found = await this.deriver.check().catch(() => null);
    if (known() !== null) return known();
    if (found === "ok") {
      this.log.error(
        { err: error },
        `a read failed on a damaged database (${messageOf(error)}), but the derived database checks out: the event log ${this.file} may be damaged; stop Tally and run tally doctor`,
      );
    }
    return found === "ok" ? null : found;
  }

  async insertEvents(events: readonly UsageEvent[]): Promise<InsertOutcome> {
    this.assertOpen();
    if (events.length === 0) return { accepted: 0, duplicates: 0, rejected: [] };
    let batch: CommittedBatch;
    try {
      batch = this.db.transaction(() => this.insertBatch(events))();
    } catch (error) {
      // The transaction rolled back: drop what the caches learned from it.
      this.resetCaches();
      throw storeError("the store could not commit the batch", error);
    }
    if (batch.block.count > 0) this.deriver.committed(batch.block);
    // The batch is committed whatever the worker does; a worker that stopped fails the reads, not the ingest.
    await this.deriver.room().catch(() => {});
    return batch.outcome;
  }

  private insertBatch(events: readonly UsageEvent[]): CommittedBatch {
    const keys = events.map((e) => keyFingerprint(e.server, e.id));
    this.dedup.begin(keys);
    const firstSeq = this.nextSeq;
    const block = new BlockBuilder(firstSeq, events.length);
    const fps: number[] = [];
    const servers = new Map<number, ServerDelta>();
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
      const fp = keys[index] as number;
      if (this.isDuplicate(fp, serverId, e.id, block)) {
        duplicates++;
        continue;
      }
      block.add(e, serverId);
      fps.push(fp);
      this.dedup.add(fp, firstSeq + block.count - 1);
      const server = servers.get(serverId);
      if (server) {
        server.events++;
        if (e.time > server.lastEventTime) server.lastEventTime = e.time;
      } else {
        servers.set(serverId, { lastEventTime: e.time, events: 1 });
      }
    }
    const logged = block.finish();
    if (logged.count > 0) {
      const fpBytes = Buffer.from(new Float64Array(fps).buffer);
      const { refs, numbers, text } = blockColumns(logged);
      this.sql.insertBlock.run(firstSeq, logged.count, fpBytes, refs, numbers, text);
      this.nextSeq = firstSeq + logged.count;
    }
    const now = Date.now();
    for (const [id, s] of servers) this.sql.touchServer.run(now, s.lastEventTime, s.events, id);
    this.dedup.step();
    const outcome = { accepted: logged.count, duplicates, rejected };
    return { outcome, firstSeq, block: logged };
  }

  /** Confirms a fingerprint match against the stored event (or one earlier in this batch): exact dedup. */
  private isDuplicate(fp: number, serverId: number, id: string, batch: BlockIds): boolean {
    for (const seq of this.dedup.candidates(fp)) {
      const block = seq >= batch.firstSeq ? batch : this.storedBlock(seq);
      const i = block ? seq - block.firstSeq : -1;
      if (block && i < block.count && block.ids[i] === id && block.refs[i * REFS] === serverId) return true;
    }
    return false;
  }

  /** The stored block holding an event, through a small cache of decoded blocks (retries hit few blocks). */
  private storedBlock(seq: number): LogBlock | undefined {
    for (const [first, block] of this.blockCache) {
      if (seq >= first && seq < first + block.count) return block;
    }
    const row = this.sql.blockAt.get(seq) as BlockRow | undefined;
    if (!row) return undefined;
    const block = toBlock(row);
    if (this.blockCache.size >= 4) this.blockCache.clear();
    this.blockCache.set(block.firstSeq, block);
    return block;
  }

  /** The kind a metric was first stored with, or undefined for a metric not stored yet. */
  private storedKind(metric: string): MetricKind | undefined {
    const known = this.kinds.get(metric) ?? (this.sql.metricKind.get(metric) as MetricKind | undefined);
    if (known) this.kinds.set(metric, known);
    return known;
  }

  /** The kind a metric keeps: the stored one, or `kind` for a new metric, stored now. */
  private metricKind(metric: string, kind: MetricKind): MetricKind {
    const known = this.storedKind(metric);
    if (known) return known;
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

  private resetCaches(): void {
    this.nextSeq = num(this.sql.nextSeq.get());
    this.blockCache.clear();
    this.serverIds.clear();
    this.kinds.clear();
    this.dedup.load();
  }

  async currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]> {
    return this.readDerived(() => this.selectCurrentLevels(query));
  }

  private selectCurrentLevels(query: CurrentLevelQuery): CurrentLevel[] {
    const where = ["s.metric = ?"];
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
        `SELECT v.name AS server, s.account, s.metric, s.instance, r.value AS last_value, r.time AS last_time
         FROM series s JOIN servers v ON v.id = s.server_id ${LATEST_READING}
         WHERE ${where.join(" AND ")}
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
    return this.readDerived(() => this.selectRollupRange(query));
  }

  private selectRollupRange(query: RollupQuery): RollupRow[] {
    const where = ["s.account = ?"];
    const params: unknown[] = [query.account];
    if (query.metrics) {
      where.push("s.metric IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(query.metrics));
    }
    if (query.servers) {
      where.push("v.name IN (SELECT value FROM json_each(?))");
      params.push(JSON.stringify(query.servers));
    }
    const stored = this.selectRollups(where.join(" AND "), params, { from: query.from, to: query.to });
    // Each held series' row just before the range and whether one follows it: the range's hours between readings.
    const edges = this.db
      .prepare(
        `SELECT v.name AS server, s.account, s.metric, s.instance, s.kind, b.hour, b.last,
           EXISTS (SELECT 1 FROM rollups a WHERE a.series_id = s.id AND a.hour >= ?) AS more
         FROM series s JOIN servers v ON v.id = s.server_id
         LEFT JOIN rollups b ON b.series_id = s.id
           AND b.hour = (SELECT max(hour) FROM rollups WHERE series_id = s.id AND hour < ?)
         WHERE ${where.join(" AND ")} AND s.kind <> 'counter'`,
      )
      .all(query.to, query.from, ...params) as Row[];
    const before = new Map<string, RollupRow>();
    const after = new Set<string>();
    for (const e of edges) {
      const row = toRollupRow({ ...e, count: 0n, sum: null, max: e.last, integral: null });
      if (e.hour !== null) before.set(seriesId(row), row);
      if (num(e.more) === 1) after.add(seriesId(row));
    }
    return fillHeldGaps(stored.rows, { from: query.from, to: query.to, before, after }, stored.openAt);
  }

  async allRollups(): Promise<RollupRow[]> {
    return this.readDerived(() => {
      const { rows, openAt } = this.selectRollups("1", [], null);
      return fillHeldGaps(rows, undefined, openAt);
    });
  }

  /**
   * The rows stored, of the series `where` selects, in the hours [from, to) or all, with the time each held row is
   * open from (fillHeldGaps closes those rows, and adds the hours wholly between two readings, which have none).
   * Counter rows are ordered by hour, then series: a range is read by seeking each (hour, series) of the series
   * selected, unless it spans more hours than a year and a half, when the hours are scanned instead.
   */
  private selectRollups(
    where: string,
    params: unknown[],
    range: { from: number; to: number } | null,
  ): { rows: RollupRow[]; openAt: Float64Array } {
    const first = range === null ? 0 : Math.ceil(range.from / HOUR_MS) * HOUR_MS;
    const seek = range !== null && (range.to - first) / HOUR_MS <= MAX_SEEK_HOURS;
    const held = range === null ? "" : "AND r.hour >= ? AND r.hour < ?";
    let counters: string;
    let counterParams: unknown[];
    if (seek) {
      counters = `WITH RECURSIVE hours (hour) AS (SELECT ? WHERE ? < ? UNION ALL SELECT hour + ${HOUR_MS} FROM hours WHERE hour + ${HOUR_MS} < ?)
        SELECT ${COUNTER_COLUMNS} FROM series s JOIN servers v ON v.id = s.server_id CROSS JOIN hours h
        CROSS JOIN counter_rollups c ON c.hour = h.hour AND c.series_id = s.id
        WHERE ${where} AND s.kind = 'counter'`;
      counterParams = [first, first, range.to, range.to, ...params];
    } else {
      counters = `SELECT ${COUNTER_COLUMNS} FROM counter_rollups c JOIN series s ON s.id = c.series_id
        JOIN servers v ON v.id = s.server_id WHERE ${where}${range === null ? "" : " AND c.hour >= ? AND c.hour < ?"}`;
      counterParams = range === null ? params : [...params, range.from, range.to];
    }
    const rows = this.db
      .prepare(
        `${counters}
         UNION ALL
         SELECT v.name, s.account, s.metric, s.instance, s.kind, r.hour, r.count, r.sum, r.last, r.max, r.integral,
           r.last_time
         FROM rollups r JOIN series s ON s.id = r.series_id JOIN servers v ON v.id = s.server_id
         WHERE ${where} ${held}
         ORDER BY 1, 2, 3, 4, 6`,
      )
      .all(...counterParams, ...params, ...(range === null ? [] : [range.from, range.to])) as Row[];
    const openAt = new Float64Array(rows.length);
    rows.forEach((r, i) => {
      openAt[i] = r.last_time === null ? Number.NaN : num(r.last_time);
    });
    return { rows: rows.map(toRollupRow), openAt };
  }

  /** How many rollup rows there are once the hours between readings are filled in, without filling them. */
  private countRollups(): number {
    return num(
      this.db
        .prepare(
          `SELECT coalesce(sum(n), 0) FROM (
             SELECT (max(hour) - min(hour)) / ${HOUR_MS} + 1 AS n FROM rollups GROUP BY series_id
             UNION ALL SELECT count(*) FROM counter_rollups)`,
        )
        .pluck()
        .get(),
    );
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

  /** Derives every table again from the log. A rebuild cut short leaves tables that a start goes on deriving. */
  async rebuildRollups(): Promise<{ events: number; rollups: number }> {
    this.assertOpen();
    const generation = this.generation;
    // A damaged derived database found on the way is replaced by one derived from the first event: a rebuild too.
    await this.deriver.rebuild().catch((error: unknown) => this.recoverFrom(error, generation));
    return this.readDerived(() => ({ events: num(this.sql.eventCount.get()), rollups: this.countRollups() }));
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    return this.readDerived(() => this.usageView.usageTable(query));
  }

  async stats(): Promise<StoreStats> {
    return this.readDerived(() => {
      const count = (table: string) => num(this.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get());
      const events = num(this.sql.eventCount.get());
      return { events, series: count("series"), rollups: this.countRollups() };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.replacing?.catch(() => {});
      await this.deriver.close();
      // The dedup keys still in memory are all in the blocks, but the next open reads them back faster if fewer.
      this.db.transaction(() => this.dedup.finish())();
    } finally {
      this.db.close();
      if (this.temporary) fs.rmSync(this.temporary, { recursive: true, force: true });
    }
  }

  /** Stops without writing what memory holds, as a crash would: for tests of what a restart recovers. */
  async abandon(): Promise<void> {
    this.closed = true;
    await this.replacing?.catch(() => {});
    await this.deriver.abandon();
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("UNAVAILABLE", "the store is closed");
  }
}

function toRollupRow(r: Row): RollupRow {
  return {
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
  };
}

function openError(path: string, error: unknown): AppError {
  const message = messageOf(error);
  if (/locked|busy/i.test(message)) {
    return new AppError("UNAVAILABLE", `${path} is in use by another Tally process`, { path });
  }
  return new AppError("UNAVAILABLE", `cannot open the SQLite store at ${path}: ${message}`, { path });
}

function storeError(what: string, error: unknown): Error {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AppError("UNAVAILABLE", `${what}: ${message}`);
}
