// The derivation worker: a thread that owns the derived database (series, readings, rollups, the usage table's sums)
// and keeps it a function of the event log. The main thread commits event blocks and sends each one here, packed
// (deriver.ts, packed-block.ts); this thread applies them in sequence through DerivedState and writes behind, so that
// the two cores share the work of a batch. Messages are handled in the order they were sent: a sync answers once
// everything sent before it is written.
//
// A block that starts after the cursor (the first event not applied) is ignored: it was sent before a failure
// that took the cursor back, and the main thread sends the events from the cursor again.

import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { isHeld } from "../../domain/metric.js";
import { DerivedState, type DerivedStateOptions } from "./derived-state.js";
import { DERIVED_MIGRATIONS, migrate } from "./migrations.js";
import { KINDS, type PackedBlock, REFS } from "./packed-block.js";
import { UsageSnapshots } from "./usage-snapshots.js";
import { Meta } from "./values.js";

export interface DeriveWorkerOptions {
  readonly path: string;
  readonly cacheMiB: number;
  /** OFF for a temporary store; NORMAL otherwise (what is lost in a power cut is derived again from the log). */
  readonly synchronous: "NORMAL" | "OFF";
  readonly derived: DerivedStateOptions;
}

export type ToWorker =
  | { readonly type: "apply"; readonly block: PackedBlock }
  | { readonly type: "sync"; readonly id: number }
  | { readonly type: "hold"; readonly id: number; readonly seq: number }
  | { readonly type: "reset"; readonly id: number }
  | { readonly type: "close"; readonly id: number };

export type FromWorker =
  | { readonly type: "ready"; readonly cursor: number }
  | { readonly type: "applied"; readonly cursor: number }
  /** The answer to a request: the cursor written (sync, reset, close) or whether a snapshot is held (hold). */
  | { readonly type: "done"; readonly id: number; readonly value: number | boolean }
  /** What was held in memory is dropped; the events from `cursor` on must be sent again. */
  | { readonly type: "failed"; readonly cursor: number; readonly message: string; readonly id?: number };

const port = parentPort;
if (port) run(workerData as DeriveWorkerOptions);

function run(options: DeriveWorkerOptions): void {
  const out = port as NonNullable<typeof parentPort>;
  const post = (message: FromWorker) => out.postMessage(message);
  const db = new Database(options.path, { timeout: 5000 });
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${options.synchronous}`);
  db.pragma(`cache_size = -${options.cacheMiB * 1024}`);
  db.pragma("temp_store = MEMORY");
  // A write behind dirties thousands of pages, many of them again in the next: checkpoint every 64 MiB of log,
  // not every 4 (the default), so a page is copied once for several writes.
  db.pragma("wal_autocheckpoint = 16384");
  db.defaultSafeIntegers(true);
  migrate(db, "derived", DERIVED_MIGRATIONS);
  const meta = new Meta(db);
  const snapshots = new UsageSnapshots(db, meta);
  const derived = new DerivedState(db, snapshots, options.derived);

  const apply = (block: PackedBlock) => {
    const { firstSeq, count, names, refs, numbers, bigValues, heldIds } = block;
    const from = derived.cursor;
    if (firstSeq > from || firstSeq + count <= from) return;
    let held = 0;
    let big = 0;
    for (let i = 0; i < count; i++) {
      const r = i * REFS;
      const kind = KINDS[refs[r + 4] as number] as (typeof KINDS)[number];
      const id = isHeld(kind) ? (heldIds[held++] as string) : "";
      const number = numbers[i * 2 + 1] as number;
      const value = Number.isNaN(number) ? BigInt(bigValues[big++] as string) : number;
      if (firstSeq + i < from) continue; // applied before a failure took the cursor back to the middle of the block
      const account = names[refs[r + 1] as number] as string;
      const metric = names[refs[r + 2] as number] as string;
      const instance = names[refs[r + 3] as number] as string;
      const time = numbers[i * 2] as number;
      derived.apply({ id, account, metric, instance, kind, time, value }, refs[r] as number, firstSeq + i);
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
      derived.discard();
      const message = error instanceof Error ? error.message : String(error);
      post({ type: "failed", cursor: derived.cursor, message, ...("id" in m ? { id: m.id } : {}) });
    }
  });
  post({ type: "ready", cursor: derived.cursor });
}
