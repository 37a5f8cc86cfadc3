// The derivation worker: a thread that owns the derived database (series, readings, rollups, the usage table's sums)
// and keeps it a function of the event log. The main thread commits event blocks and sends each one here, packed
// (deriver.ts, packed-block.ts); this thread applies them in sequence through DerivedState and writes behind, so that
// the two cores share the work of a batch. Messages are handled in the order they were sent: a sync answers once
// everything sent before it is written.
//
// A block that starts after the cursor (the first event not applied) is ignored: it was sent before a failure
// that took the cursor back, and the main thread sends the events from the cursor again.
//
// A database found damaged, on open or later, is not read again: the worker says so ("unopened" or "failed" with
// `damaged`), and the store moves the file aside and starts a new worker on a new one (sqlite-store.ts).

import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { migrate } from "../../db/sqlite-migrate.js";
import { messageOf } from "../../domain/errors.js";
import { isHeld } from "../../domain/metric.js";
import { isDamage } from "./derived-damage.js";
import { DerivedState, type DerivedStateOptions } from "./derived-state.js";
import { DERIVED_MIGRATIONS } from "./migrations.js";
import { KINDS, type PackedBlock, REFS } from "./packed-block.js";
import { UsageSnapshots } from "./usage-snapshots.js";
import { Meta } from "./values.js";

export interface DeriveWorkerOptions {
  readonly path: string;
  /** The page cache, MiB. */
  readonly cacheMiB: number;
  /** The limit of the worker's old generation, MiB (memory-budget.ts). */
  readonly heapMiB: number;
  /** OFF for a temporary store; NORMAL otherwise (what is lost in a power cut is derived again from the log). */
  readonly synchronous: "NORMAL" | "OFF";
  readonly derived: DerivedStateOptions;
}

export type ToWorker =
  | { readonly type: "apply"; readonly block: PackedBlock }
  | { readonly type: "sync"; readonly id: number }
  | { readonly type: "hold"; readonly id: number; readonly seq: number }
  | { readonly type: "reset"; readonly id: number }
  /** Answered with the first problem PRAGMA quick_check finds, or "ok". */
  | { readonly type: "check"; readonly id: number }
  | { readonly type: "close"; readonly id: number };

export type FromWorker =
  /** `covered`: the first event that nothing on disk covers, at or past the cursor. */
  | { readonly type: "ready"; readonly cursor: number; readonly covered: number }
  /** The database could not be opened; the worker has stopped. */
  | { readonly type: "unopened"; readonly message: string; readonly damaged: boolean }
  | { readonly type: "applied"; readonly cursor: number }
  /** The answer to a request: the cursor written (sync, reset, close), whether a snapshot is held (hold), or a check. */
  | { readonly type: "done"; readonly id: number; readonly value: number | boolean | string }
  /** What was held in memory is dropped; the events from `cursor` on must be sent again. */
  | {
      readonly type: "failed";
      readonly cursor: number;
      readonly message: string;
      /** The database is damaged: nothing was dropped, as the store replaces it. */
      readonly damaged: boolean;
      readonly id?: number;
    };

const port = parentPort;
if (port) run(workerData as DeriveWorkerOptions);

/** Opens the derived database and reads its cursor: what a damaged file fails. */
function open(options: DeriveWorkerOptions) {
  const db = new Database(options.path, { timeout: 5000 });
  try {
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${options.synchronous}`);
    db.pragma(`cache_size = -${options.cacheMiB * 1024}`);
    db.pragma("temp_store = MEMORY");
    // A write behind dirties thousands of pages, many of them again in the next: checkpoint every 64 MiB of log,
    // not every 4 (the default), so a page is copied once for several writes.
    db.pragma("wal_autocheckpoint = 16384");
    db.defaultSafeIntegers(true);
    // The open check: reading header, schema and cursors fails on a bad header or truncation; quick_check reads it all.
    migrate(db, "derived", DERIVED_MIGRATIONS);
    const meta = new Meta(db);
    const snapshots = new UsageSnapshots(db, meta);
    return { db, snapshots, derived: new DerivedState(db, snapshots, options.derived) };
  } catch (error) {
    db.close();
    throw error;
  }
}

function run(options: DeriveWorkerOptions): void {
  const out = port as NonNullable<typeof parentPort>;
  const post = (message: FromWorker) => out.postMessage(message);
  let opened: ReturnType<typeof open>;
  try {
    opened = open(options);
  } catch (error) {
    // Posted, not thrown: an error thrown here reaches the main thread without its message.
    post({ type: "unopened", message: messageOf(error), damaged: isDamage(error) });
    out.close();
    return;
  }
  const { db, snapshots, derived } = opened;

  const apply = (block: PackedBlock) => {
    const { firstSeq, count, names, refs, numbers, bigValues, heldIds, dimsKeys } = block;
    const from = derived.cursor;
    if (firstSeq > from || firstSeq + count <= from) return;
    let held = 0;
    let big = 0;
    let dimmed = 0;
    for (let i = 0; i < count; i++) {
      const r = i * REFS;
      const kind = KINDS[refs[r + 4] as number] as (typeof KINDS)[number];
      const id = isHeld(kind) ? (heldIds[held++] as string) : "";
      const number = numbers[i * 2 + 1] as number;
      const value = Number.isNaN(number) ? BigInt(bigValues[big++] as string) : number;
      const dims = dimsKeys[dimmed]?.[0] === i ? (dimsKeys[dimmed++]?.[1] as string) : "";
      if (firstSeq + i < from) continue; // applied before a failure took the cursor back to the middle of the block
      const account = names[refs[r + 1] as number] as string;
      const metric = names[refs[r + 2] as number] as string;
      const instance = names[refs[r + 3] as number] as string;
      const time = numbers[i * 2] as number;
      derived.apply({ id, account, metric, instance, dims, kind, time, value }, refs[r] as number, firstSeq + i);
      derived.flushIfFull();
    }
    post({ type: "applied", cursor: derived.cursor });
  };

  const handle = (m: ToWorker) => {
    switch (m.type) {
      case "apply":
        return apply(m.block);
      case "sync":
        derived.flush();
        return post({ type: "done", id: m.id, value: derived.cursor });
      case "hold":
        return post({ type: "done", id: m.id, value: snapshots.hold(m.seq) });
      case "reset":
        db.transaction(() => derived.reset())();
        return post({ type: "done", id: m.id, value: derived.cursor });
      case "check": {
        const found = String(db.pragma("quick_check(1)", { simple: true }));
        return post({ type: "done", id: m.id, value: found.replace(/^\*\*\* in database \w+ \*\*\*\s*/, "") });
      }
      case "close":
        derived.flush();
        db.close();
        post({ type: "done", id: m.id, value: derived.cursor });
        out.close();
        return;
    }
  };

  out.on("message", (m: ToWorker) => {
    try {
      handle(m);
    } catch (error) {
      const damaged = isDamage(error);
      if (!damaged) derived.discard();
      const message = messageOf(error);
      post({ type: "failed", cursor: derived.cursor, message, damaged, ...("id" in m ? { id: m.id } : {}) });
    }
  });
  post({ type: "ready", cursor: derived.cursor, covered: derived.covered });
}
