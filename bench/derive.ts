// npm run bench:derive: the derivation worker's work alone. Applies a workload shape (bench/workload.ts SHAPES) to
// DerivedState in this thread, as the worker does, without HTTP, the event log or the main thread, and prints the CPU
// per event; beside it, measured in the same run, raw prepared INSERTs of the same rows into a bare table of a
// database opened the same way. Figures only: what a change to derivation costs or saves, with less noise than the
// whole ingest path shows.
//
//   node dist/bench/derive.js [--shape NAME[,NAME…]|all] [--events 500000] [--runs 3]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { migrate } from "../src/db/sqlite-migrate.js";
import { validateEvent } from "../src/domain/event.js";
import { dimsKey } from "../src/domain/rollup.js";
import { type DerivedEvent, DerivedState } from "../src/store/sqlite/derived-state.js";
import { memoryShares } from "../src/store/sqlite/memory-budget.js";
import { DERIVED_MIGRATIONS } from "../src/store/sqlite/migrations.js";
import { UsageSnapshots } from "../src/store/sqlite/usage-snapshots.js";
import { Meta } from "../src/store/sqlite/values.js";
import { cpuMicros, flag } from "./harness.js";
import { fmt, parseShapes, type Shape, Workload } from "./workload.js";

const shapes = parseShapes(flag("shape", "mixed,levels-ordered"));
const EVENTS = Number(flag("events", "500000"));
const RUNS = Number(flag("runs", "3"));
const RAW_BATCH = 10_000;

/** A database opened as the worker opens its own (derive-worker.ts). */
function openDb(file: string, cacheMiB: number): Database.Database {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma(`cache_size = -${cacheMiB * 1024}`);
  db.pragma("temp_store = MEMORY");
  db.pragma("wal_autocheckpoint = 16384");
  db.defaultSafeIntegers(true);
  return db;
}

function events(shape: Shape): { event: DerivedEvent; server: number }[] {
  const workload = new Workload({ seed: 1, ids: "v4", shape });
  const servers = new Map<string, number>();
  const out: { event: DerivedEvent; server: number }[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const checked = validateEvent({ ...workload.next() });
    if (!checked.ok) throw new Error(checked.reason);
    const e = checked.event;
    if (!servers.has(e.server)) servers.set(e.server, servers.size + 1);
    const { id, account, metric, instance, kind, time, value } = e;
    out.push({
      event: { id, account, metric, instance, dims: dimsKey(e.dims), kind, time, value: Number(value) },
      server: servers.get(e.server) as number,
    });
  }
  return out;
}

/** µs of CPU per event to derive them all and write everything behind. */
function derive(dir: string, list: readonly { event: DerivedEvent; server: number }[]): number {
  const shares = memoryShares();
  const db = openDb(path.join(dir, "derived.sqlite"), shares.deriveCacheMiB);
  try {
    migrate(db, "derived", DERIVED_MIGRATIONS);
    const state = new DerivedState(db, new UsageSnapshots(db, new Meta(db)), {
      seriesCacheSize: shares.seriesCacheSize,
      usageFlushChanges: shares.usageFlushChanges,
    });
    const start = cpuMicros();
    for (const [i, { event, server }] of list.entries()) {
      state.apply(event, server, i + 1);
      state.flushIfFull();
    }
    state.flush();
    return (cpuMicros() - start) / list.length;
  } finally {
    db.close();
  }
}

/** µs of CPU per row to insert the same rows into a bare table, a transaction per batch. */
function raw(dir: string, list: readonly { event: DerivedEvent; server: number }[]): number {
  const db = openDb(path.join(dir, "raw.sqlite"), memoryShares().deriveCacheMiB);
  try {
    db.exec(
      "CREATE TABLE events (server INTEGER, id TEXT, account TEXT, metric TEXT, instance TEXT, time INTEGER, value INTEGER)",
    );
    const insert = db.prepare("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)");
    const batch = db.transaction((rows: typeof list) => {
      for (const { event: e, server } of rows)
        insert.run(server, e.id, e.account, e.metric, e.instance, e.time, e.value);
    });
    const start = cpuMicros();
    for (let i = 0; i < list.length; i += RAW_BATCH) batch(list.slice(i, i + RAW_BATCH));
    return (cpuMicros() - start) / list.length;
  } finally {
    db.close();
  }
}

const lines = [
  "",
  `Derivation alone (DerivedState in one thread, default memory budget), ${fmt(EVENTS)} events a run, ${RUNS} runs`,
  "shape                 run   derive µs/event   raw insert µs/row   derive / raw",
];
for (const shape of shapes) {
  const list = events(shape);
  for (let run = 1; run <= RUNS; run++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-derive-"));
    try {
      const rawMicros = raw(dir, list);
      const deriveMicros = derive(dir, list);
      lines.push(
        `${shape.padEnd(20)}  ${String(run).padStart(3)}   ${deriveMicros.toFixed(2).padStart(15)}   ${rawMicros
          .toFixed(2)
          .padStart(17)}   ${(deriveMicros / rawMicros).toFixed(2).padStart(12)}`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
process.stdout.write(`${lines.join("\n")}\n`);
