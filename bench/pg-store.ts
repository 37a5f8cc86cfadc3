// npm run bench:pg-store: the PostgreSQL store's ingest alone. Inserts a workload shape (bench/workload.ts SHAPES)
// into a fresh schema through the store, in batches of 10,000, one at a time, as tally serve does for one request,
// without HTTP or parsing, and prints this process's CPU per event (the store's JavaScript and pg's protocol) and the
// part of it that went to garbage collection; beside it, measured in the same run, COPY of the same rows into a bare
// table. Figures only: what a change to the store's ingest costs or saves, with less noise than the whole path shows.
//
//   node dist/bench/pg-store.js [--shape NAME[,NAME…]|all] [--events 120000] [--runs 3]
//
// The first WARM_EVENTS of each run are inserted before the clock starts: they make the first series and warm the code.

import { PerformanceObserver } from "node:perf_hooks";
import pg from "pg";
import { type UsageEvent, validateEvent } from "../src/domain/event.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { cpuMicros, flag } from "./harness.js";
import { copyBaseline } from "./pg-baseline.js";
import { fmt, parseShapes, type Shape, Workload } from "./workload.js";

const PG_URL = process.env.TALLY_BENCH_POSTGRES || "postgres://postgres@127.0.0.1:5432/test";
const shapes = parseShapes(flag("shape", "mixed,levels-spread"));
const EVENTS = Number(flag("events", "120000"));
const RUNS = Number(flag("runs", "3"));
const BATCH = 10_000;
const WARM_EVENTS = 20_000;

function events(shape: Shape): UsageEvent[] {
  const workload = new Workload({ seed: 1, ids: "v4", shape });
  return Array.from({ length: EVENTS }, () => {
    const checked = validateEvent({ ...workload.next() });
    if (!checked.ok) throw new Error(checked.reason);
    return checked.event;
  });
}

/** Milliseconds of garbage collection in this process while `work` runs. */
async function withGcTime<T>(work: () => Promise<T>): Promise<{ result: T; gcMs: number }> {
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ["gc"] });
  try {
    const result = await work();
    // Entries are delivered after the tick that made them.
    await new Promise((resolve) => setImmediate(resolve));
    return { result, gcMs };
  } finally {
    observer.disconnect();
  }
}

interface StoreRun {
  readonly eventsPerSecond: number;
  readonly cpuMicros: number;
  readonly gcMicros: number;
}

/** The timed events through the store, after the warm-up ones. */
async function store(schema: string, list: readonly UsageEvent[]): Promise<StoreRun> {
  const s = await openPostgresStore({ url: PG_URL, schema });
  try {
    for (let i = 0; i < WARM_EVENTS; i += BATCH) await s.insertEvents(list.slice(i, i + BATCH));
    const timed = list.length - WARM_EVENTS;
    const cpu = cpuMicros();
    const started = performance.now();
    const { result: accepted, gcMs } = await withGcTime(async () => {
      let n = 0;
      for (let i = WARM_EVENTS; i < list.length; i += BATCH)
        n += (await s.insertEvents(list.slice(i, i + BATCH))).accepted;
      return n;
    });
    const seconds = (performance.now() - started) / 1000;
    if (accepted !== timed) throw new Error(`the store accepted ${accepted} of ${timed} events`);
    return {
      eventsPerSecond: timed / seconds,
      cpuMicros: (cpuMicros() - cpu) / timed,
      gcMicros: (gcMs * 1000) / timed,
    };
  } finally {
    await s.close();
  }
}

/** Rows per second of COPY of the same events into a bare table, a batch at a time (pg-baseline.ts). */
async function raw(schema: string, list: readonly UsageEvent[]): Promise<number> {
  const batches: (readonly UsageEvent[])[] = [];
  for (let i = 0; i < list.length; i += BATCH) batches.push(list.slice(i, i + BATCH));
  const { rows, seconds } = await copyBaseline(PG_URL, schema, batches, (batch) =>
    batch.map((e) => [e.id, e.server, e.time, e.account, e.metric, e.kind, e.value, e.instance] as const),
  );
  return rows / seconds;
}

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
const lines = [
  "",
  `PostgreSQL store alone (${new URL(PG_URL).host}), batches of ${fmt(BATCH)} one at a time, ${fmt(
    EVENTS - WARM_EVENTS,
  )} events timed a run after ${fmt(WARM_EVENTS)}, ${RUNS} runs`,
  "shape                 run   events/s   CPU µs/event   of it GC   COPY rows/s   store / COPY",
];
try {
  for (const shape of shapes) {
    const list = events(shape);
    for (let run = 1; run <= RUNS; run++) {
      const schema = `bench_pg_store_${process.pid}_${run}`;
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.query(`CREATE SCHEMA ${schema}`);
      try {
        const copyRate = await raw(schema, list);
        const r = await store(schema, list);
        lines.push(
          `${shape.padEnd(20)}  ${String(run).padStart(3)}   ${fmt(r.eventsPerSecond).padStart(8)}   ${r.cpuMicros
            .toFixed(2)
            .padStart(12)}   ${r.gcMicros.toFixed(2).padStart(8)}   ${fmt(copyRate).padStart(11)}   ${(
            (100 * r.eventsPerSecond) /
            copyRate
          )
            .toFixed(1)
            .padStart(11)}%`,
        );
      } finally {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      }
    }
  }
} finally {
  await admin.end();
}
process.stdout.write(`${lines.join("\n")}\n`);
