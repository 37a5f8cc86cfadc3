// The derived database as the store's connection sees it: the worker that writes it (deriver.ts), its file attached
// to the connection as `derived`, and every read made once it covers what the log holds.
//
// A derived database that cannot be opened or read (a damaged header, a truncated file, malformed pages found by a
// read or a write) is moved aside, never mended, and derived again from the log: at open, or as soon as it is found,
// the read that found it waiting for the new one. The event log is never touched by this.

import type Database from "better-sqlite3";
import { AppError, messageOf } from "../../domain/errors.js";
import type { DerivationLag } from "../port.js";
import type { DeriveWorkerOptions } from "./derive-worker.js";
import { isDamage, moveAside } from "./derived-damage.js";
import { type BlockSource, Deriver } from "./deriver.js";
import type { LogBlock } from "./packed-block.js";
import { SqliteUsageTable } from "./usage-table.js";

/** What the store logs through (a pino logger is one). */
export interface StoreLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** For stores opened without a logger (tests, tools): one JSON line on standard error, for problems only. */
export const STDERR_LOG: StoreLog = {
  info: () => {},
  warn: (fields, message) => process.stderr.write(`${JSON.stringify({ level: "warn", ...fields, msg: message })}\n`),
  error: (fields, message) => process.stderr.write(`${JSON.stringify({ level: "error", ...fields, msg: message })}\n`),
};

export class DerivedDatabase {
  private deriver!: Deriver;
  /** The usage table's reader on the attached database. */
  usageView!: SqliteUsageTable;
  /** Moves on each time a derived database is attached: a read that failed on an earlier one just reads again. */
  private generation = 0;
  /** Why the derived database is being (or was to be) replaced, until a new one is attached. */
  private damage: string | null = null;
  private replacing: Promise<void> | null = null;
  private closed = false;

  constructor(
    /** The store's connection, which attaches the derived database to read it. */
    private readonly db: Database.Database,
    /** The event log's file, for messages. */
    private readonly logFile: string,
    private readonly worker: DeriveWorkerOptions,
    /** The page cache of the attached database, for reads, MiB. */
    private readonly readCacheMiB: number,
    private readonly source: BlockSource,
    private readonly log: StoreLog,
  ) {}

  /** Starts the worker and attaches its database; a damaged one is moved aside, and a new one derived. */
  async open(): Promise<void> {
    await this.attach().catch(async (error: unknown) => {
      if (!isDamage(error)) throw error;
      this.moveAside(messageOf(error));
      await this.attach();
    });
  }

  /** A block just committed, for the worker. */
  committed(block: LogBlock): void {
    this.deriver.committed(block);
  }

  /** Resolves once the worker is not too far behind; a worker that stopped fails the reads, not the ingest. */
  lag(): DerivationLag {
    return this.deriver.lag();
  }

  async room(): Promise<void> {
    await this.deriver.room().catch(() => {});
  }

  /**
   * Runs a read of the derived database once it covers every event committed. If the read finds the derived database
   * damaged, it is replaced and the read made again on the new one, which waits for it to be derived.
   */
  async read<T>(read: () => T | Promise<T>): Promise<T> {
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

  /** Derives everything again from the log; a damaged database found on the way is replaced, which is a rebuild too. */
  async rebuild(): Promise<void> {
    const generation = this.generation;
    await this.deriver.rebuild().catch((error: unknown) => this.recoverFrom(error, generation));
  }

  /** Stops the worker once it has written what it holds. */
  async close(): Promise<void> {
    this.closed = true;
    await this.replacing?.catch(() => {});
    await this.deriver.close();
  }

  /** Stops the worker without letting it write what it holds in memory: what a crash does. */
  async abandon(): Promise<void> {
    this.closed = true;
    await this.replacing?.catch(() => {});
    await this.deriver.abandon();
  }

  /** Starts a worker on the derived database and attaches it; if either fails, neither is left behind. */
  private async attach(): Promise<void> {
    const generation = this.generation + 1;
    // Found by the worker as it writes behind, perhaps with no read to find it: replaced now.
    const onDamage = (reason: string) => {
      if (generation !== this.generation) return;
      this.replace(reason).catch((error: unknown) => {
        this.log.error({ err: error }, `could not replace the damaged derived database: ${messageOf(error)}`);
      });
    };
    const deriver = await Deriver.start(this.worker, this.source, onDamage);
    try {
      this.db.prepare("ATTACH DATABASE ? AS derived").run(this.worker.path);
      this.db.pragma(`derived.cache_size = -${this.readCacheMiB * 1024}`);
    } catch (error) {
      await deriver.abandon();
      throw error;
    }
    this.deriver = deriver;
    this.generation = generation;
    this.damage = null;
    this.usageView = new SqliteUsageTable(this.db, (seq) => this.deriver.hold(seq));
  }

  /** Renames the derived database and its -wal and -shm out of the way, and says so. */
  private moveAside(reason: string): void {
    const file = this.worker.path;
    const movedTo = moveAside(file);
    this.log.warn(
      { derived: file, movedTo, reason },
      `the derived database ${file} is damaged (${reason}): moved it to ${movedTo}; deriving it again from the event log`,
    );
  }

  /** Stops the worker, detaches the damaged derived database, moves it aside and derives a new one: once at a time. */
  private replace(reason: string): Promise<void> {
    this.replacing ??= (async () => {
      this.damage = reason;
      await this.deriver.abandon("the derived database is being derived again");
      const attached = this.db.pragma("database_list") as { name: string }[];
      if (attached.some((d) => d.name === "derived")) this.db.exec("DETACH DATABASE derived");
      this.moveAside(reason);
      await this.attach();
    })().finally(() => {
      this.replacing = null;
    });
    return this.replacing;
  }

  /** After a failed read: returns once a damaged derived database is replaced, or throws the read's error. */
  private async recoverFrom(error: unknown, generation: number): Promise<void> {
    if (this.replacing) return this.replacing;
    if (generation !== this.generation) return;
    const reason = await this.damageOf(error);
    if (reason === null) throw error;
    if (generation !== this.generation) return;
    return this.replace(reason);
  }

  /** Why the derived database is damaged, or null when it is not found to be. */
  private async damageOf(error: unknown): Promise<string | null> {
    const known = () => this.damage ?? this.deriver.damage;
    if (known() !== null || !isDamage(error)) return known();
    // A read joins both files: a check of the derived one says whether it is the damaged one (a rare, slow path).
    const found = await this.deriver.check().catch(() => null);
    if (known() !== null) return known();
    if (found === "ok") {
      this.log.error(
        { err: error },
        `a read failed on a damaged database (${messageOf(error)}), but the derived database checks out: the event log ${this.logFile} may be damaged; stop Tally and run tally doctor`,
      );
    }
    return found === "ok" ? null : found;
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("UNAVAILABLE", "the store is closed");
  }
}
