// The derivation worker: a thread that owns the derived database (series, readings, rollups, the usage table's
// sums) and keeps it a function of the event log. The main thread commits event blocks and sends each one here
// (deriver.ts); this thread applies them in sequence through DerivedState and writes behind, so that the two
// cores share the work of a batch. Messages are handled in the order they were sent: a sync answers once
// everything sent before it is written.
//
// A block that starts after the cursor (the first event not applied) is ignored: it was sent before a failure
// that took the cursor back, and the main thread sends the events from the cursor again.

import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { MetricKind } from "../../domain/metric.js";
import { DerivedState, type DerivedStateOptions } from "./derived-state.js";
import { DERIVED_MIGRATIONS, migrate } from "./migrations.js";
import { UsageSnapshots } from "./usage-snapshots.js";
import { Meta } from "./values.js";

export interface DeriveWorkerOptions {
  readonly path: string;
  readonly cacheMiB: number;
  /** OFF for a temporary store; NORMAL otherwise (what is lost in a power cut is derived again from the log). */
  readonly synchronous: "NORMAL" | "OFF";
  readonly derived: DerivedStateOptions;
}

/** One event as kept in an event block: [id, server id, account, metric, instance, time, value, dims]. */
export type BlockEvent = [
  string,
  number,
  string,
  string,
  string,
  number,
  number | string,
  Readonly<Record<string, string>> | null,
];

export type ToWorker =
  | { readonly type: "kinds"; readonly kinds: Readonly<Record<string, MetricKind>> }
  | { readonly type: "apply"; readonly firstSeq: number; readonly data: string }
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
  const kinds = new Map<string, MetricKind>();

  const apply = (firstSeq: number, data: string) => {
    const from = derived.cursor;
    const events = JSON.parse(data) as BlockEvent[];
    if (firstSeq > from || firstSeq + events.length <= from) return;
    for (let i = from - firstSeq; i < events.length; i++) {
      const [id, serverId, account, metric, instance, time, value] = events[i] as BlockEvent;
      const kind = kinds.get(metric);
      if (kind === undefined) throw new Error(`event ${firstSeq + i} names ${metric}, whose kind is not known`);
      // Values up to 2^53 are JSON numbers, those beyond decimal strings.
      const exact = typeof value === "number" ? value : BigInt(value);
      derived.apply({ id, account, metric, instance, kind, time, value: exact }, serverId, firstSeq + i);
      derived.flushIfFull();
    }
    post({ type: "applied", cursor: derived.cursor });
  };

  const handle = (m: ToWorker) => {
    switch (m.type) {
      case "kinds":
        for (const [name, kind] of Object.entries(m.kinds)) kinds.set(name, kind);
        return;
      case "apply":
        return apply(m.firstSeq, m.data);
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
