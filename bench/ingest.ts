// npm run bench:ingest — how fast `tally serve` takes events over HTTP, next to the raw ceiling of its store.
//
// For each kind of event id (random UUIDv4, time-ordered UUIDv7): a fresh `tally serve` on a fresh data dir, and
// a separate client process (bench/ingest-client.ts) that pre-generates the NDJSON batches, measures raw prepared
// INSERTs of the same rows into a bare SQLite table, then POSTs the batches with keep-alive and 2 requests in
// flight. The same against PostgreSQL, with COPY into a bare table as the ceiling. Figures are printed, never
// asserted; the run fails only if Tally did not store exactly what was sent.
//
// Shapes (bench/workload.ts SHAPES): `--shape NAME[,NAME…]` or BENCH_SHAPE, default mixed; `--shape all` runs
// every one, and a table of all of them ends the report.
//
// Environment: BENCH_EVENTS (default 2,000,000), BENCH_PG_EVENTS (500,000; 0 skips PostgreSQL), BENCH_SEED (1),
// BENCH_IDS (v4,v7), TALLY_BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432/test), BENCH_CPU_PROF (a directory:
// run the servers under --cpu-prof and leave the profiles there, one directory per run and one file per thread; summarise one with
// `node dist/bench/cpu-profile.js FILE`), BENCH_KEEP (keep the data dirs), BENCH_EVENTS_PER_HOUR (simulated rate, 40,000),
// BENCH_JETSTREAM_EVENTS (events published to NATS JetStream and consumed into each store, default BENCH_EVENTS;
// 0 skips), BENCH_NATS (nats://127.0.0.1:4222).

import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import type { UsageStore } from "../src/store/port.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import {
  ingestToken,
  machine,
  memoryOf,
  mib,
  progress,
  type RunningTally,
  runNodeScript,
  startTally,
  table,
  tempDir,
  threadCpuOf,
} from "./harness.js";
import type { ClientJob, ClientResult } from "./ingest-client.js";
import { type JetStreamRun, runJetStream } from "./jetstream.js";
import { envInt, fmt, type IdKind, parseShapes, SHAPES, type Shape } from "./workload.js";

const BATCH = 10_000;
const IN_FLIGHT = 2;
const TARGET_RATE = 200_000;
const TARGET_SHARE = 0.4;
const EVENTS = envInt("BENCH_EVENTS", 2_000_000);
const PG_EVENTS = envInt("BENCH_PG_EVENTS", 500_000);
const SEED = envInt("BENCH_SEED", 1);
const EVENTS_PER_HOUR = Math.max(1, envInt("BENCH_EVENTS_PER_HOUR", 40_000));
const PG_URL = process.env.TALLY_BENCH_POSTGRES || "postgres://postgres@127.0.0.1:5432/test";
const CPU_PROF = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
const KEEP = Boolean(process.env.BENCH_KEEP);
const JS_EVENTS = envInt("BENCH_JETSTREAM_EVENTS", EVENTS);
const NATS_URL = process.env.BENCH_NATS || "nats://127.0.0.1:4222";
const ID_KINDS = (process.env.BENCH_IDS || "v4,v7").split(",").map((s) => s.trim()) as IdKind[];
const shapeFlag = process.argv.indexOf("--shape");
const SHAPE_LIST = parseShapes(
  (shapeFlag >= 0 ? process.argv[shapeFlag + 1] : undefined) ?? (process.env.BENCH_SHAPE || "mixed"),
);

interface RunFailure {
  readonly ids: IdKind;
  readonly shape: Shape;
  readonly failed: string;
}

interface RunResult {
  readonly ids: IdKind;
  readonly shape: Shape;
  readonly store: "sqlite" | "postgres";
  readonly client: ClientResult;
  readonly peakRss: number;
  /** Server CPU seconds while it took the load: its main thread, its busiest other thread, the rest. */
  readonly cpu: ServerCpu;
  /** Server RSS when the client reported 10%, 20% … 100% posted. */
  readonly rssAt: Map<number, number>;
  readonly stored: { events: number; counterSum: number; series: number; rollups: number };
  readonly problems: string[];
}

const ID_LABEL: Record<IdKind, string> = { v4: "random ids (UUIDv4)", v7: "time-ordered ids (UUIDv7)" };

interface ServerCpu {
  readonly main: number;
  readonly busiest: number;
  readonly rest: number;
}

/** What each thread of the server spent between two readings; threads that began between them count from 0. */
function cpuBetween(
  pid: number,
  before: ReturnType<typeof threadCpuOf>,
  after: ReturnType<typeof threadCpuOf>,
): ServerCpu {
  if (!before || !after) return { main: Number.NaN, busiest: Number.NaN, rest: Number.NaN };
  let main = 0;
  const others: number[] = [];
  for (const [tid, seconds] of after) {
    const spent = seconds - (before.get(tid) ?? 0);
    if (tid === pid) main = spent;
    else others.push(spent);
  }
  others.sort((a, b) => b - a);
  const busiest = others[0] ?? 0;
  return { main, busiest, rest: others.slice(1).reduce((a, b) => a + b, 0) };
}

/** One run: the server is up (idle) while the client generates and measures the baseline, then takes the load. */
async function drive(
  server: RunningTally,
  dataDir: string,
  job: ClientJob,
): Promise<{ client: ClientResult; peakRss: number; cpu: ServerCpu; rssAt: Map<number, number> }> {
  const rssAt = new Map<number, number>();
  const token = await ingestToken(server.url, dataDir);
  // The server idles while the client generates its batches and measures the baseline, so this counts the load.
  const cpuBefore = threadCpuOf(server.pid);
  const client = await runNodeScript<ClientResult>(
    "ingest-client.js",
    job,
    (line) => {
      const m = /(\d+)% posted/.exec(line);
      const mem = memoryOf(server.pid);
      if (m && mem) rssAt.set(Number(m[1]), mem.rss);
    },
    token ? { BENCH_TOKEN: token } : {},
  ).catch((error: unknown) => {
    // Say so when the server is what broke.
    const died = server.died();
    throw died ? new Error(`${(error as Error).message}; ${died}`) : error;
  });
  const cpu = cpuBetween(server.pid, cpuBefore, threadCpuOf(server.pid));
  const mem = memoryOf(server.pid);
  return { client, peakRss: mem?.peak ?? Number.NaN, cpu, rssAt };
}

/** Later than any event's time: the end of a range that holds them all. */
const FAR_FUTURE = Date.UTC(2100, 0, 1);

/** What the store holds, through its public contract (the tables behind it are not the benchmark's business). */
async function storedCounts(store: UsageStore): Promise<RunResult["stored"]> {
  try {
    const stats = await store.stats();
    // Page by page: every rollup row at once does not fit in memory at 10,000,000 level readings.
    const kinds = await store.metricKinds();
    const metrics = Object.keys(kinds).filter((m) => kinds[m] === "counter");
    let counterSum = 0;
    for await (const page of store.rollupPages({ from: 0, to: FAR_FUTURE, metrics })) {
      for (const r of page.rows) counterSum += r.count;
    }
    return { events: stats.events, counterSum, series: stats.series, rollups: stats.rollups };
  } finally {
    await store.close();
  }
}

function checkCounts(client: ClientResult, stored: RunResult["stored"]): string[] {
  const problems: string[] = [];
  // A retried batch may have been stored the first time: then its events come back as duplicates.
  if (client.accepted + client.duplicates !== client.sent) {
    problems.push(`accepted ${client.accepted} + duplicates ${client.duplicates} of ${client.sent} sent`);
  }
  if (client.duplicates > client.retries * BATCH) {
    problems.push(`${client.duplicates} counted as duplicates with ${client.retries} batches retried`);
  }
  if (client.rejected !== 0) problems.push(`${client.rejected} rejected: ${client.firstRejections.join("; ")}`);
  if (stored.events !== client.sent) problems.push(`the store holds ${stored.events} events, ${client.sent} were sent`);
  if (stored.counterSum !== client.counterEvents) {
    problems.push(`counter rollups count ${stored.counterSum} events, ${client.counterEvents} were sent`);
  }
  return problems;
}

async function runSqlite(ids: IdKind, shape: Shape): Promise<RunResult> {
  const dir = tempDir("tally-bench-ingest-");
  const data = path.join(dir, "data");
  progress(`SQLite, ${shape}, ${ID_LABEL[ids]}: ${fmt(EVENTS)} events, data in ${dir}`);
  try {
    const server = await startTally({
      args: ["--data", data],
      nodeArgs: CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", path.join(CPU_PROF, `sqlite-${shape}-${ids}`)] : [],
    });
    let run: Awaited<ReturnType<typeof drive>>;
    try {
      run = await drive(server, data, {
        ids,
        shape,
        events: EVENTS,
        seed: SEED,
        eventsPerHour: EVENTS_PER_HOUR,
        batchSize: BATCH,
        inFlight: IN_FLIGHT,
        tallyUrl: server.url,
        baseline: { kind: "sqlite", path: path.join(dir, "raw.sqlite") },
        label: `sqlite ${shape} ${ids}`,
      });
    } finally {
      await server.stop();
    }
    const stored = await storedCounts(await openSqliteStore({ path: path.join(data, "tally.sqlite") }));
    return { ids, shape, store: "sqlite", ...run, stored, problems: checkCounts(run.client, stored) };
  } finally {
    if (KEEP) progress(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The URL with a start-up option that makes `schema` the search_path of every connection. */
function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set("options", `-csearch_path=${schema}`);
  return u.toString();
}

async function postgresAvailable(): Promise<string | null> {
  if (typeof openPostgresStore !== "function") return "adapter not available (no openPostgresStore in the build)";
  const host = new URL(PG_URL).hostname;
  if (host !== "127.0.0.1" && host !== "localhost") return `TALLY_BENCH_POSTGRES must point at 127.0.0.1, not ${host}`;
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (error) {
    return `cannot connect to ${new URL(PG_URL).host}: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function runPostgres(ids: IdKind, shape: Shape): Promise<RunResult> {
  const schema = `bench_${process.pid}_${ids}_${shape.replaceAll("-", "_")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const dir = tempDir("tally-bench-pg-");
  progress(`PostgreSQL, ${shape}, ${ID_LABEL[ids]}: ${fmt(PG_EVENTS)} events, schema ${schema}`);
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.query(`CREATE SCHEMA ${schema}`);
    const server = await startTally({
      args: ["--store", withSearchPath(PG_URL, schema), "--data", path.join(dir, "data")],
      nodeArgs: CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", path.join(CPU_PROF, `pg-${shape}-${ids}`)] : [],
    });
    let run: Awaited<ReturnType<typeof drive>>;
    try {
      run = await drive(server, path.join(dir, "data"), {
        ids,
        shape,
        events: PG_EVENTS,
        seed: SEED,
        eventsPerHour: EVENTS_PER_HOUR,
        batchSize: BATCH,
        inFlight: IN_FLIGHT,
        tallyUrl: server.url,
        baseline: { kind: "postgres", url: PG_URL, schema },
        label: `postgres ${shape} ${ids}`,
      });
    } finally {
      await server.stop();
    }
    const stored = await storedCounts(await openPostgresStore({ url: PG_URL, schema }));
    return { ids, shape, store: "postgres", ...run, stored, problems: checkCounts(run.client, stored) };
  } finally {
    if (!KEEP) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A run that fails (the server answered an error, say) is reported, and the next run still goes ahead. */
async function attempt(
  ids: IdKind,
  shape: Shape,
  run: (ids: IdKind, shape: Shape) => Promise<RunResult>,
): Promise<RunResult | RunFailure> {
  try {
    return await run(ids, shape);
  } catch (error) {
    const message = (error as Error).message.split("\n").slice(0, 4).join(" | ");
    progress(`${shape} ${ids}: failed: ${message}`);
    return { ids, shape, failed: message };
  }
}

function report(title: string, baselineName: string, all: readonly (RunResult | RunFailure)[]): string {
  const runs = all.filter((r): r is RunResult => !("failed" in r));
  const failures = all.filter((r): r is RunFailure => "failed" in r);
  const cols = runs.map((r) => ID_LABEL[r.ids]);
  const row = (name: string, f: (r: RunResult) => string) => [name, ...runs.map(f)];
  const rate = (r: RunResult) => r.client.sent / r.client.httpSeconds;
  const raw = (r: RunResult) => r.client.baselineRows / r.client.baselineSeconds;
  const rss = (r: RunResult, at: number) => {
    const v = r.rssAt.get(at);
    return v === undefined ? "?" : mib(v);
  };
  const rows = [
    row("events sent", (r) => fmt(r.client.sent)),
    row("raw ceiling (1), rows/s", (r) => fmt(raw(r))),
    row("tally serve over HTTP, events/s", (r) => fmt(rate(r))),
    row("tally / raw", (r) => `${((100 * rate(r)) / raw(r)).toFixed(1)}%`),
    row("wall time, s", (r) => r.client.httpSeconds.toFixed(2)),
    row("request latency p50 / p99 / max, ms", (r) =>
      [r.client.latencyMs.p50, r.client.latencyMs.p99, r.client.latencyMs.max].map((n) => fmt(n)).join(" / "),
    ),
    row("CPU µs/event: server main / worker (2) / rest", (r) =>
      [r.cpu.main, r.cpu.busiest, r.cpu.rest].map((s) => ((s * 1e6) / r.client.sent).toFixed(2)).join(" / "),
    ),
    row("CPU µs/event: client", (r) => ((r.client.cpuSeconds * 1e6) / r.client.sent).toFixed(2)),
    row("requests retried (connection reset)", (r) => fmt(r.client.retries)),
    row("server RSS at 20% / 60% / 100%", (r) => `${rss(r, 20)} / ${rss(r, 60)} / ${rss(r, 100)}`),
    row("server peak RSS (VmHWM)", (r) => mib(r.peakRss)),
    row("accepted / duplicates / rejected", (r) =>
      [r.client.accepted, r.client.duplicates, r.client.rejected].map((n) => fmt(n)).join(" / "),
    ),
    row("stored events / series / rollup rows", (r) =>
      [r.stored.events, r.stored.series, r.stored.rollups].map((n) => fmt(n)).join(" / "),
    ),
    row("check (stored = sent, exactly once)", (r) => (r.problems.length === 0 ? "ok" : "FAILED")),
  ];
  const lines = [
    title,
    table(["", ...cols], rows),
    `(1) ${baselineName}, the same rows (8 columns)`,
    "(2) the server's busiest thread besides its main one (on SQLite, the derivation worker)",
  ];
  for (const r of runs) for (const p of r.problems) lines.push(`  ${r.ids}: ${p}`);
  for (const f of failures) lines.push(`${ID_LABEL[f.ids]}: RUN FAILED: ${f.failed}`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  if (CPU_PROF) fs.mkdirSync(CPU_PROF, { recursive: true });
  const out: string[] = [];
  let failed = false;
  const unavailable = PG_EVENTS === 0 ? "skipped (BENCH_PG_EVENTS=0)" : await postgresAvailable();
  const summary: (RunResult | RunFailure)[][] = [];

  out.push("");
  out.push("Tally ingest benchmark");
  out.push(`  machine:  ${machine()}`);
  out.push(
    `  load:     NDJSON batches of ${fmt(BATCH)} over HTTP/1.1 keep-alive, ${IN_FLIGHT} requests in flight, from a separate process`,
  );
  for (const shape of SHAPE_LIST) {
    const sqliteRuns: (RunResult | RunFailure)[] = [];
    for (const ids of ID_KINDS) sqliteRuns.push(await attempt(ids, shape, runSqlite));
    failed ||= sqliteRuns.some((r) => "failed" in r || r.problems.length > 0);

    let postgres: string;
    const pgRuns: (RunResult | RunFailure)[] = [];
    if (unavailable) {
      postgres = `postgres: ${unavailable}`;
    } else {
      for (const ids of ID_KINDS) pgRuns.push(await attempt(ids, shape, runPostgres));
      postgres = report(
        `PostgreSQL (tally serve --store ${new URL(PG_URL).host}, fresh schema per run), batches of ${fmt(BATCH)}`,
        "COPY (pg-copy-streams, text format) into a bare table, one COPY per batch",
        pgRuns,
      );
      failed ||= pgRuns.some((r) => "failed" in r || r.problems.length > 0);
    }
    summary.push(sqliteRuns, pgRuns);

    out.push("");
    out.push(`Shape ${shape}: ${SHAPES[shape].label}`);
    const first = sqliteRuns.find((r): r is RunResult => !("failed" in r));
    if (first) {
      const c = first.client;
      out.push(
        `  workload: seed ${SEED}; 10 servers, 10,000 accounts (Zipf); ${((100 * c.counterEvents) / c.sent).toFixed(1)}% counters, ` +
          `${((100 * c.levelEvents) / c.sent).toFixed(1)}% levels; ${(c.bytes / c.sent).toFixed(1)} bytes per NDJSON line; ` +
          `${c.simulatedHours.toFixed(1)} simulated hours (${fmt(EVENTS_PER_HOUR)} events/hour)`,
      );
    }
    out.push(
      report(
        "SQLite (tally serve --data DIR, a fresh data dir per run)",
        "raw prepared INSERTs into a bare table (better-sqlite3, WAL, synchronous=FULL, one transaction per batch)",
        sqliteRuns,
      ),
    );
    const target = sqliteRuns.find((r): r is RunResult => r.ids === "v4" && !("failed" in r));
    if (target) {
      const rate = target.client.sent / target.client.httpSeconds;
      const share = rate / (target.client.baselineRows / target.client.baselineSeconds);
      out.push(
        `target (SQLite, random ids, 2,000,000 events): >= ${fmt(TARGET_RATE)} events/s and >= ${TARGET_SHARE * 100}% of raw; ` +
          `this run: ${fmt(rate)} events/s (${rate >= TARGET_RATE ? "met" : "below"}), ${(share * 100).toFixed(1)}% of raw (${share >= TARGET_SHARE ? "met" : "below"})` +
          (target.client.sent < 2_000_000 ? ` — over only ${fmt(target.client.sent)} events` : ""),
      );
    }
    out.push("");
    out.push(postgres);
  }
  if (SHAPE_LIST.length > 1) out.push("", summaryTable(summary.flat()));
  if (JS_EVENTS > 0) {
    const report = await jetStreamReport(summary.flat(), unavailable);
    out.push("", report.text);
    failed ||= report.failed;
  }
  if (CPU_PROF) out.push(`\nCPU profiles of the servers: ${CPU_PROF}`);
  process.stdout.write(`${out.join("\n")}\n`);
  if (failed) process.exitCode = 1;
}

/** Publish to JetStream and consume into each store; the rates beside the same run's HTTP rate (random ids). */
async function jetStreamReport(
  http: readonly (RunResult | RunFailure)[],
  postgresUnavailable: string | null,
): Promise<{ text: string; failed: boolean }> {
  const lines = [
    `NATS JetStream (${NATS_URL}): ${fmt(JS_EVENTS)} events (shape mixed, random ids) published one message each, then consumed by a fresh tally serve --consume (batches of 5,000, the default; the time includes its start)`,
  ];
  let failed = false;
  const rows: string[][] = [];
  const dir = tempDir("tally-bench-js-");
  const schema = `bench_js_${process.pid}`;
  const stores: ["sqlite" | "postgres", () => Promise<readonly string[]>][] = [
    ["sqlite", async () => ["--data", path.join(dir, "sqlite")]],
  ];
  if (!postgresUnavailable) {
    stores.push([
      "postgres",
      async () => {
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.end();
        return ["--store", withSearchPath(PG_URL, schema), "--data", path.join(dir, "postgres")];
      },
    ]);
  } else lines.push(`  postgres: ${postgresUnavailable}`);
  for (const [store, args] of stores) {
    const baseline = http.find((r): r is RunResult => !("failed" in r) && r.store === store && r.ids === "v4");
    const httpRate = baseline ? baseline.client.sent / baseline.client.httpSeconds : Number.NaN;
    try {
      const run: JetStreamRun = await runJetStream({
        store,
        storeArgs: await args(),
        events: JS_EVENTS,
        seed: SEED,
        natsUrl: NATS_URL,
      });
      const consumeRate = run.events / run.consumeSeconds;
      if (run.accepted !== run.events || run.duplicates !== 0 || run.rejected !== 0) {
        failed = true;
        lines.push(
          `  ${store}: stored ${run.accepted} accepted, ${run.duplicates} duplicates, ${run.rejected} rejected of ${run.events}`,
        );
      }
      rows.push([
        store,
        fmt(run.events / run.publishSeconds),
        fmt(consumeRate),
        Number.isNaN(httpRate) ? "-" : fmt(httpRate),
        Number.isNaN(httpRate) ? "-" : `${((100 * consumeRate) / httpRate).toFixed(0)}%`,
      ]);
    } catch (error) {
      failed = true;
      lines.push(`  ${store}: failed: ${(error as Error).message}`);
    }
  }
  lines.push(
    table(["store", "publish events/s", "consume events/s", "HTTP events/s (this run)", "consume / HTTP"], rows),
  );
  return { text: lines.join("\n"), failed };
}

/** Every shape on one line per store and kind of id: the rate, its share of raw inserts, and the peak RSS. */
function summaryTable(runs: readonly (RunResult | RunFailure)[]): string {
  const stores = [
    ["SQLite", "sqlite"],
    ["PostgreSQL", "postgres"],
  ] as const;
  const cols: string[] = [];
  for (const [name] of stores) for (const ids of ID_KINDS) cols.push(`${name}, ${ID_LABEL[ids]}`);
  const rows = SHAPE_LIST.map((shape) => {
    const cells: string[] = [shape];
    for (const [, store] of stores) {
      for (const ids of ID_KINDS) {
        const r = runs.find(
          (x): x is RunResult => !("failed" in x) && x.shape === shape && x.ids === ids && x.store === store,
        );
        if (!r) {
          cells.push("-");
          continue;
        }
        const rate = r.client.sent / r.client.httpSeconds;
        const share = (100 * rate) / (r.client.baselineRows / r.client.baselineSeconds);
        cells.push(`${fmt(rate)} ev/s (${share.toFixed(1)}%), ${mib(r.peakRss)}`);
      }
    }
    return cells;
  });
  return [
    "Every shape: events/s (share of raw inserts of the same rows), server peak RSS",
    table(["shape", ...cols], rows),
  ].join("\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:ingest: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
