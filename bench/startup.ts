// npm run bench:startup — how long `tally serve` takes to answer again when its SQLite store already holds
// 10,000,000 events: from spawning the process until GET /healthz answers 200.
//
// The data dir is built once, in-process, through the same ingest path as the API (validateEvent + the SQLite
// store's insertEvents, via ingestEvents) in big batches, and kept in /tmp for the next run. Figures are printed,
// never asserted.
//
// Environment: BENCH_STARTUP_EVENTS (default 10,000,000), BENCH_SEED (1), BENCH_STARTUP_RUNS (3),
// BENCH_STARTUP_DIR (default /tmp/tally-bench-startup).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { RawEvent } from "../src/domain/event.js";
import { ingestEvents } from "../src/ingest/ingest-events.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { dirBytes, getStatus, machine, mib, progress, startTally, table, tempDir } from "./harness.js";
import { envInt, fmt, Workload } from "./workload.js";

const EVENTS = envInt("BENCH_STARTUP_EVENTS", 10_000_000);
const SEED = envInt("BENCH_SEED", 1);
const RUNS = Math.max(1, envInt("BENCH_STARTUP_RUNS", 3));
const ROOT = process.env.BENCH_STARTUP_DIR || "/tmp/tally-bench-startup";
const BUILD_BATCH = 50_000;
/** Bumped when the workload or the layout changes, so an old directory is not reused. */
const LAYOUT = 5;
const TARGET_MS = 1000;
const READY_DEADLINE_MS = 120_000;

interface Built {
  readonly events: number;
  readonly seconds: number;
  readonly builtAt: string;
}

/** The data dir holding EVENTS events: reused when a complete one is there, else built (into a temp name first). */
async function dataDir(): Promise<{ dir: string; built: Built; reused: boolean }> {
  const dir = path.join(ROOT, `events-${EVENTS}-seed-${SEED}-layout-${LAYOUT}`);
  const marker = path.join(dir, "complete.json");
  if (fs.existsSync(marker)) {
    return { dir, built: JSON.parse(fs.readFileSync(marker, "utf8")) as Built, reused: true };
  }
  fs.mkdirSync(ROOT, { recursive: true });
  const building = `${dir}.building-${process.pid}`;
  fs.rmSync(building, { recursive: true, force: true });
  fs.mkdirSync(path.join(building, "data"), { recursive: true });
  progress(`building a data dir with ${fmt(EVENTS)} events in ${building} (kept for later runs)`);
  const store = await openSqliteStore({ path: path.join(building, "data", "tally.sqlite") });
  const workload = new Workload({ seed: SEED, ids: "v4" });
  const started = performance.now();
  let reported = 0;
  try {
    for (let done = 0; done < EVENTS; ) {
      const n = Math.min(BUILD_BATCH, EVENTS - done);
      const items = new Array(n);
      for (let i = 0; i < n; i++) items[i] = { raw: workload.next() as unknown as RawEvent };
      const result = await ingestEvents(store, items);
      if (result.accepted !== n) {
        throw new Error(
          `building: ${result.accepted} of ${n} accepted: ${JSON.stringify(result.rejected.slice(0, 3))}`,
        );
      }
      done += n;
      const tenth = Math.floor((done * 10) / EVENTS);
      if (tenth > reported) {
        reported = tenth;
        const s = (performance.now() - started) / 1000;
        progress(`  ${tenth * 10}%: ${fmt(done)} events in ${s.toFixed(0)} s (${fmt(done / s)} events/s)`);
      }
    }
  } finally {
    await store.close();
  }
  const built: Built = {
    events: EVENTS,
    seconds: (performance.now() - started) / 1000,
    builtAt: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(building, "complete.json"), `${JSON.stringify(built)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(building, dir);
  return { dir, built, reused: false };
}

/** Spawns tally serve on the data dir; ms until it logs that it listens, and until /healthz answers 200. */
async function startOnce(data: string): Promise<{ listening: number; ready: number; stop: number }> {
  const server = await startTally({ args: ["--data", data], timeoutMs: READY_DEADLINE_MS });
  try {
    const deadline = server.spawnedAt + READY_DEADLINE_MS;
    // Bounded by the deadline; the first attempt normally succeeds, since the log line comes after listen().
    for (;;) {
      if ((await getStatus(`${server.url}/healthz`)) === 200) break;
      if (performance.now() > deadline) throw new Error(`/healthz did not answer 200 within ${READY_DEADLINE_MS} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const ready = performance.now() - server.spawnedAt;
    return { listening: server.listeningMs, ready, stop: await server.stop() };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** What the store holds, through its contract; opened after the timed starts. */
async function storeFacts(file: string): Promise<{ events: number; series: number; rollups: number }> {
  const store = await openSqliteStore({ path: file });
  try {
    return await store.stats();
  } finally {
    await store.close();
  }
}

function nodeFloorMs(): number {
  const t0 = performance.now();
  spawnSync(process.execPath, ["-e", "0"]);
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const { dir, built, reused } = await dataDir();
  const data = path.join(dir, "data");

  progress(`starting tally serve ${RUNS + 1} times on ${data}`);
  // The first start may still run migrations the build did not (tokens, say); it is shown apart.
  const first = await startOnce(data);
  const full = [];
  for (let i = 0; i < RUNS; i++) full.push(await startOnce(data));
  const emptyDir = tempDir("tally-bench-empty-");
  const empty = [];
  try {
    // The first start creates the schema; the ones measured open an existing, empty store.
    await startOnce(path.join(emptyDir, "data"));
    for (let i = 0; i < RUNS; i++) empty.push(await startOnce(path.join(emptyDir, "data")));
  } finally {
    fs.rmSync(emptyDir, { recursive: true, force: true });
  }
  const floor = median(Array.from({ length: RUNS }, nodeFloorMs));
  const facts = await storeFacts(path.join(data, "tally.sqlite"));

  const ms = (v: number) => `${fmt(v)} ms`;
  const runsOf = (xs: { ready: number }[]) => xs.map((x) => fmt(x.ready)).join(", ");
  const out = [
    "",
    "Tally start-up benchmark",
    `  machine:  ${machine()}`,
    `  store:    ${data} — ${fmt(facts.events)} events, ${mib(dirBytes(data))} on disk, ` +
      `${fmt(facts.series)} series, ${fmt(facts.rollups)} rollup rows; ` +
      (reused
        ? `reused (built ${built.builtAt})`
        : `built now in ${built.seconds.toFixed(0)} s (${fmt(built.events / built.seconds)} events/s in-process)`),
    "",
    table(
      ["", `${fmt(facts.events)} events`, "empty store", "node -e 0"],
      [
        [
          "spawn → 'listening' log line, median",
          ms(median(full.map((r) => r.listening))),
          ms(median(empty.map((r) => r.listening))),
          "",
        ],
        [
          "spawn → GET /healthz 200, median",
          ms(median(full.map((r) => r.ready))),
          ms(median(empty.map((r) => r.ready))),
          ms(floor),
        ],
        ["each run, ms", runsOf(full), runsOf(empty), ""],
        ["warm-up start before those (migrations), not in the median", ms(first.ready), "", ""],
        ["SIGTERM → exit, median", ms(median(full.map((r) => r.stop))), ms(median(empty.map((r) => r.stop))), ""],
      ],
    ),
    `target: serving within ${fmt(TARGET_MS)} ms of start with 10,000,000 events; this run: ${ms(median(full.map((r) => r.ready)))} ` +
      `(${median(full.map((r) => r.ready)) < TARGET_MS ? "met" : "above"})` +
      (facts.events < 10_000_000 ? ` — with only ${fmt(facts.events)} events` : ""),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:startup: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
