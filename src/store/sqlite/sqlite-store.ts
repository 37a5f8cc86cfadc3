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
// A derived database that cannot be opened or read is moved aside and derived again from the log
// (derived-database.ts); the event log is never touched by this.
//
// A store opened at ":memory:" lives in a temporary directory, removed on close: the worker needs files.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { migrate } from "../../db/sqlite-migrate.js";
import { checkWholeDays, type DayRow } from "../../domain/day-usage.js";
import { AppError, messageOf } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import type { RollupRow } from "../../domain/rollup.js";
import type {
  AccountsAfterQuery,
  AccountsRollupQuery,
  CounterSum,
  CounterSumQuery,
  CurrentLevel,
  CurrentLevelQuery,
  DerivationLag,
  FeedFilter,
  FeedPage,
  InsertOptions,
  InsertOutcome,
  ReaderLocation,
  RollupPage,
  RollupQuery,
  RollupScanQuery,
  ServerInfo,
  StoreStats,
  UsageStore,
  UsageTablePage,
  UsageTableQuery,
} from "../port.js";
import { rollupPagesOf } from "../rollup-pages.js";
import { selectAccountsDays } from "./day-reads.js";
import { DedupKeys } from "./dedup-keys.js";
import { DerivedDatabase, STDERR_LOG, type StoreLog } from "./derived-database.js";
import { SqliteEventFeed } from "./event-feed.js";
import { describeShares, type MemoryShares, memoryShares } from "./memory-budget.js";
import { USAGE_MIGRATIONS } from "./migrations.js";
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
import {
  countRollups,
  selectAccountsAfter,
  selectAccountsRollups,
  selectAllRollups,
  selectCounterSums,
  selectCurrentLevels,
  selectRollupRange,
} from "./rollup-reads.js";
import { derivedFileProblem, derivedPath } from "./store-files.js";
import { num } from "./values.js";

export interface SqliteStoreOptions {
  /** A file path, or ":memory:" for tests. */
  readonly path: string;
  /** The memory budget in MiB, shared out among the caches (memory-budget.ts); the default unless given. */
  readonly memoryMiB?: number;
  /** Slots in each in-memory dedup table (a power of two; tests set it low); one half full is frozen and moved to disk. */
  readonly recentKeySlots?: number;
  /** Events whose derived state is held in memory before it is written (tests set it low). */
  readonly derivedFlushEvents?: number;
  /** Series kept in memory (tests set it low). */
  readonly seriesCacheSize?: number;
  /** Bits of the series fingerprints used (tests set it low, so that series share fingerprints). */
  readonly seriesFingerprintBits?: number;
  /** Changed usage sums held in memory between reads before they are written anyway (tests set it low). */
  readonly usageFlushChanges?: number;
  /** Where the store says what it did on its own (a damaged derived database moved aside); stdout if none. */
  readonly logger?: StoreLog;
}

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

/** A row of event_blocks: first_seq, refs, numbers, text. */
type BlockRow = [bigint, Buffer, Buffer, string];

const toBlock = (row: BlockRow): LogBlock => readBlock(num(row[0]), row[1], row[2], row[3]);
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteUsageStore> {
  const temporary = options.path === ":memory:" ? fs.mkdtempSync(path.join(os.tmpdir(), "tally-")) : null;
  const file = temporary ? path.join(temporary, "tally.sqlite") : options.path;
  try {
    const store = new SqliteUsageStore(file, temporary, options);
    await store.startDeriving();
    (options.logger ?? STDERR_LOG).info({ memory: store.memory }, describeShares(store.memory));
    return store;
  } catch (error) {
    if (temporary) fs.rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}

export class SqliteUsageStore implements UsageStore {
  readonly description: string;
  /** The connection, for the backend to build the other SQLite adapters of this process on. */
  readonly db: Database.Database;
  /** Where the memory budget goes. */
  readonly memory: MemoryShares;
  private readonly dedup: DedupKeys;
  private derived!: DerivedDatabase;
  private readonly feed: SqliteEventFeed;
  private readonly serverIds = new Map<string, number>();
  private readonly kinds = new Map<string, MetricKind>();
  private readonly blockCache = new Map<number, LogBlock>();
  private nextSeq = 1;
  private closed = false;
  private readonly sql;

  /** Opens the event log; startDeriving, which openSqliteStore calls next, makes it a store. */
  constructor(
    private readonly file: string,
    /** The temporary directory of a ":memory:" store. */
    private readonly temporary: string | null,
    private readonly options: SqliteStoreOptions,
  ) {
    this.description = temporary ? "sqlite (temporary, removed on close)" : `sqlite:${file}`;
    this.memory = memoryShares(options.memoryMiB);
    let opened: Database.Database | undefined;
    try {
      opened = new Database(file, { timeout: 250 }); // another process holding the file is an error, not a wait
      this.db = opened;
      this.db.pragma("journal_mode = WAL");
      // Checkpoint every 40 MiB of log rather than every 4 (the default): each checkpoint syncs the database file,
      // and pages written again meanwhile are copied once.
      this.db.pragma("wal_autocheckpoint = 10000");
      // One process owns the file: the in-memory dedup level and the derived state are only right if nobody else
      // writes. The derived database, attached later, is shared with the worker that writes it.
      this.db.pragma("main.locking_mode = EXCLUSIVE");
      this.db.pragma(`synchronous = ${temporary ? "OFF" : "FULL"}`);
      this.db.pragma(`cache_size = -${this.memory.logCacheMiB * 1024}`);
      this.db.pragma("temp_store = MEMORY");
      const derived = derivedFileProblem(this.db, file);
      if (derived !== null) throw new AppError("VALIDATION", derived, { path: file });
      migrate(this.db, "usage", USAGE_MIGRATIONS);
      migrate(this.db, "petnames", PETNAME_MIGRATIONS);
    } catch (error) {
      opened?.close();
      throw error instanceof AppError ? error : openError(file, error);
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
    this.dedup = new DedupKeys(this.db, options.recentKeySlots ?? this.memory.recentKeySlots, this.memory.filterBits);
    this.feed = new SqliteEventFeed(this.db);
    this.resetCaches();
  }

  /**
   * Starts the derivation worker on the derived database, attaches it, and sends it the events it lacks. A damaged
   * derived database is moved aside, and a new one derived.
   */
  async startDeriving(): Promise<void> {
    const { options, memory } = this;
    this.derived = new DerivedDatabase(
      this.db,
      this.file,
      {
        path: derivedPath(this.file),
        cacheMiB: memory.deriveCacheMiB,
        heapMiB: memory.workerHeapMiB,
        synchronous: this.temporary ? "OFF" : "NORMAL",
        derived: {
          flushEvents: options.derivedFlushEvents,
          seriesCacheSize: options.seriesCacheSize ?? memory.seriesCacheSize,
          fingerprintBits: options.seriesFingerprintBits,
          usageFlushChanges: options.usageFlushChanges ?? memory.usageFlushChanges,
        },
      },
      memory.readCacheMiB,
      {
        end: () => this.nextSeq,
        blockStarts: (seq) => (this.sql.blockStarts.all(seq) as bigint[]).map(num),
        block: (first) => forWorker(toBlock(this.sql.block.get(first) as BlockRow)),
      },
      options.logger ?? STDERR_LOG,
    );
    try {
      await this.derived.open();
    } catch (error) {
      this.db.close();
      throw openError(derivedPath(this.file), error);
    }
  }

  async insertEvents(events: readonly UsageEvent[], options: InsertOptions = {}): Promise<InsertOutcome> {
    this.assertOpen();
    const { source } = options;
    if (events.length === 0 && !source) return { accepted: 0, duplicates: 0, rejected: [] };
    let batch: CommittedBatch;
    try {
      batch = this.db.transaction(() => {
        if (source) this.feed.checkSource(source);
        const b = this.insertBatch(events);
        if (source) this.feed.recordSource(source, b.firstSeq, b.block.count);
        return b;
      })();
    } catch (error) {
      // The transaction rolled back: drop what the caches learned from it.
      this.resetCaches();
      if (error instanceof AppError) throw error;
      throw storeError("the store could not commit the batch", error);
    }
    if (batch.block.count > 0) this.derived.committed(batch.block);
    // The batch is committed whatever the worker does.
    await this.derived.room();
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

  async sourcePosition(name: string): Promise<string | null> {
    this.assertOpen();
    return this.feed.sourcePosition(name);
  }

  async eventsAfter(cursor: string | null, limit: number, filter: FeedFilter): Promise<FeedPage> {
    this.assertOpen();
    return this.feed.eventsAfter(cursor, limit, filter);
  }

  async currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]> {
    return this.derived.read(() => selectCurrentLevels(this.db, query));
  }

  async rollups(query: RollupQuery): Promise<RollupRow[]> {
    return this.derived.read(() => selectRollupRange(this.db, query));
  }

  async counterSums(query: CounterSumQuery): Promise<CounterSum[]> {
    return this.derived.read(() => selectCounterSums(this.db, query));
  }

  rollupPages(query: RollupScanQuery): AsyncIterable<RollupPage> {
    return rollupPagesOf(this, query);
  }

  async accountsAfter(query: AccountsAfterQuery): Promise<string[]> {
    return this.derived.read(() => selectAccountsAfter(this.db, query));
  }

  async accountsRollups(query: AccountsRollupQuery): Promise<RollupRow[]> {
    return this.derived.read(() => selectAccountsRollups(this.db, query));
  }

  async accountsDays(query: AccountsRollupQuery): Promise<DayRow[]> {
    checkWholeDays(query.from, query.to);
    return this.derived.read(() => selectAccountsDays(this.db, query));
  }

  async allRollups(): Promise<RollupRow[]> {
    return this.derived.read(() => selectAllRollups(this.db));
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

  async readerLocation(): Promise<ReaderLocation> {
    return this.derived.read(() => ({
      store: "sqlite" as const,
      derived: derivedPath(this.file),
      servers: this.db.prepare("SELECT CAST(id AS REAL), name FROM servers").raw().all() as [number, string][],
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
    await this.derived.rebuild();
    return this.derived.read(() => ({ events: num(this.sql.eventCount.get()), rollups: countRollups(this.db) }));
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    return this.derived.read(() => this.derived.usageView.usageTable(query));
  }

  async derivationLag(): Promise<DerivationLag> {
    this.assertOpen();
    return this.derived.lag();
  }

  async stats(): Promise<StoreStats> {
    return this.derived.read(() => {
      const count = (table: string) => num(this.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get());
      const events = num(this.sql.eventCount.get());
      return { events, series: count("series"), rollups: countRollups(this.db) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.derived.close();
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
    await this.derived.abandon();
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("UNAVAILABLE", "the store is closed");
  }
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
  return new AppError("UNAVAILABLE", `${what}: ${messageOf(error)}`);
}
