// The embedded store: one SQLite file in WAL mode, owned by one Tally process at a time.
//
// Ingest is the hot path, and a batch commits only what cannot be derived: the events themselves, as one row per
// batch (event_blocks, event-log.ts), which costs a fraction of a row per event, the keys that deduplicate them, and
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
import { DerivedDatabase, STDERR_LOG, type StoreLog } from "./derived-database.js";
import { SqliteEventFeed } from "./event-feed.js";
import { type CommittedBatch, EventLog } from "./event-log.js";
import { describeShares, type MemoryShares, memoryShares } from "./memory-budget.js";
import { USAGE_MIGRATIONS } from "./migrations.js";
import { PETNAME_MIGRATIONS } from "./petname-tables.js";
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
  private readonly log: EventLog;
  private derived!: DerivedDatabase;
  private readonly feed: SqliteEventFeed;
  private closed = false;

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
    this.log = new EventLog(this.db, options.recentKeySlots ?? this.memory.recentKeySlots, this.memory.filterBits);
    this.feed = new SqliteEventFeed(this.db);
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
      this.log,
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
        const b = this.log.append(events);
        if (source) this.feed.recordSource(source, b.firstSeq, b.block.count);
        return b;
      })();
    } catch (error) {
      // The transaction rolled back: drop what the caches learned from it.
      this.log.reset();
      if (error instanceof AppError) throw error;
      throw storeError("the store could not commit the batch", error);
    }
    if (batch.block.count > 0) this.derived.committed(batch.block);
    // The batch is committed whatever the worker does.
    await this.derived.room();
    return batch.outcome;
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
    return this.derived.read(() => ({ events: this.log.eventCount(), rollups: countRollups(this.db) }));
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
      const events = this.log.eventCount();
      return { events, series: count("series"), rollups: countRollups(this.db) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.derived.close();
      // The dedup keys still in memory are all in the blocks, but the next open reads them back faster if fewer.
      this.db.transaction(() => this.log.finish())();
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
