// Snapshots of the usage table on SQLite, so that paging through it while events arrive returns every account
// exactly once, with the values it had when the first page was read.
//
// A snapshot is a cursor S of the usage table (meta.usage_seq when the first page was read). Each totals row carries
// `changed`, the cursor of the write that last moved it; a row with changed <= S still holds its value at S.
// While snapshots are in use, every write that moves a row first copies the row as it was into usage_log (and
// the server totals into usage_server_log), keyed by the write's cursor: the first copy after S of an account is
// its row at S (no rank: it had none). A page at S is the unchanged rows from the index merged with those copies.
//
// Copies are only kept while someone pages: the first page of a paged read turns the log on (from its cursor),
// every later page extends it, and a write an hour after the last page turns it off and empties it. A snapshot
// can be paged for an hour after its first page; after that its cursors are refused, and the client starts again.
//
// The derivation worker writes the log (UsageSnapshots); the main thread reads pages and refuses expired
// cursors (checkSnapshot). A first page is read before it is held, so the worker holds it only if nothing was
// written since; otherwise it starts the log at its own cursor and the page is read again.

import type Database from "better-sqlite3";
import { AppError } from "../../domain/errors.js";
import type { Meta } from "./values.js";

export const SNAPSHOT_TTL_MS = 3_600_000;
/** A page extends the log's life only when that moves it by more than this: most pages write nothing. */
const EXTEND_STEP_MS = 60_000;

/** Asks the worker to hold the snapshot at a cursor just read: false when that moment has already passed. */
export type SnapshotHold = (seq: number) => Promise<boolean>;

/** Refuses a snapshot whose changes the log no longer holds. */
export function checkSnapshot(meta: Meta, seq: number): void {
  const from = meta.get("usage_log_from", 0);
  if (from === 0 || seq < from) {
    throw new AppError(
      "GONE",
      "this cursor's snapshot of the table has expired (a snapshot can be paged for an hour after its first page); start again from the first page",
    );
  }
}

export class UsageSnapshots {
  /** (time, cursor) as pages were read, oldest first: how far the log can be cut once snapshots expire. */
  private checkpoints: { readonly time: number; readonly seq: number }[] = [];
  private readonly sql;

  constructor(
    private readonly db: Database.Database,
    private readonly meta: Meta,
    private readonly now: () => number = Date.now,
  ) {
    this.sql = {
      clear: db.prepare("DELETE FROM usage_log"),
      clearServers: db.prepare("DELETE FROM usage_server_log"),
      cut: db.prepare("DELETE FROM usage_log WHERE seq <= ?"),
      cutServers: db.prepare("DELETE FROM usage_server_log WHERE seq <= ?"),
    };
    // Snapshots read before a restart keep their hour from now: no time is known for them.
    const from = this.from;
    if (from > 0) this.checkpoints.push({ time: this.now(), seq: meta.get("usage_seq", 1) });
  }

  /** The oldest snapshot that can be read, or 0 when the log is off. */
  private get from(): number {
    return this.meta.get("usage_log_from", 0);
  }

  /**
   * A paged read at cursor `seq`: keeps the snapshot at `seq` readable for the next hour, and says whether it
   * could. The log must have been on since `seq`, or nothing written since (the cursor on disk is still `seq`);
   * if not, it is turned on now and the read must be made again. Writes only when the log is off or its life
   * needs extending.
   */
  hold(seq: number): boolean {
    const current = this.meta.get("usage_seq", 1);
    const off = this.from === 0;
    if (off ? seq !== current : seq < this.from) {
      if (off) this.hold(current);
      return false;
    }
    const now = this.now();
    const last = this.checkpoints.at(-1);
    if (!last || now - last.time >= EXTEND_STEP_MS) this.checkpoints.push({ time: now, seq });
    if (!off && this.meta.get("usage_log_until", 0) - now > SNAPSHOT_TTL_MS - EXTEND_STEP_MS) return true;
    this.db.transaction(() => {
      if (off) this.meta.set("usage_log_from", seq);
      this.meta.set("usage_log_until", now + SNAPSHOT_TTL_MS);
    })();
    return true;
  }

  /**
   * Before the derived state writes the usage table: whether to copy the rows it moves into the log. Turns the
   * log off when no page has been read for an hour, and cuts what only expired snapshots need.
   */
  logging(): boolean {
    const from = this.from;
    if (from === 0) return false;
    const now = this.now();
    if (now > this.meta.get("usage_log_until", 0)) {
      this.reset();
      return false;
    }
    let cut: number | null = null;
    while ((this.checkpoints[0]?.time ?? now) < now - SNAPSHOT_TTL_MS)
      cut = (this.checkpoints.shift() as { seq: number }).seq;
    if (cut !== null && cut > from) {
      this.sql.cut.run(cut);
      this.sql.cutServers.run(cut);
      this.meta.set("usage_log_from", cut);
    }
    return true;
  }

  /** Forgets every snapshot: nobody pages any more, or the usage table is being derived again. */
  reset(): void {
    this.sql.clear.run();
    this.sql.clearServers.run();
    this.meta.set("usage_log_from", 0);
    this.checkpoints = [];
  }
}
