// npm run bench:hostile — what hostile POST /v1/events bodies cost `tally serve`, and what they do to its neighbours.
//
// One `tally serve` on SQLite in a temp dir, with an ingest token. For each shape of body, generated once in memory
// and as near the body limit as the shape allows: a few sent one at a time, then a few at once, from this process
// over loopback. Meanwhile a probe in a worker thread (its own event loop, so that reading a large answer here does
// not delay it) starts GET /healthz every 50 ms, whether or not the previous one has answered. Per shape and
// phase it prints the HTTP status, the answer's size, the time to answer, the server's RSS before, at its peak and
// 2 s after the last answer, and the /healthz latency median / p99 / max, also as a multiple of the idle median
// measured in the same run. Figures are printed, never asserted. A server that dies is reported and replaced.
// It takes about 3 minutes on 2 cores (11 before batches had a line limit), so `npm run bench` leaves it out.
//
// Environment: BENCH_HOSTILE_SEQUENTIAL (3), BENCH_HOSTILE_CONCURRENT (3), BENCH_HOSTILE_SHAPES (all; a
// comma-separated list of the keys below), BENCH_MAX_BODY (16 MiB, the server's default limit), BENCH_KEEP.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import {
  ingestToken,
  machine,
  memoryOf,
  mib,
  progress,
  type RunningTally,
  startTally,
  table,
  tempDir,
} from "./harness.js";
import { envInt, fmt, ndjsonLine, Workload, type WorkloadEvent } from "./workload.js";

const LIMIT = envInt("BENCH_MAX_BODY", 16 * 1024 * 1024);
const SEQUENTIAL = envInt("BENCH_HOSTILE_SEQUENTIAL", 3);
const CONCURRENT = envInt("BENCH_HOSTILE_CONCURRENT", 3);
const KEEP = Boolean(process.env.BENCH_KEEP);
const PROBE_EVERY_MS = 50;
/** A probe that has not answered by then counts as failed, with this as its latency. */
const PROBE_TIMEOUT_MS = 30_000;
/** Bounds the run when a body keeps the server busy for minutes. */
const POST_TIMEOUT_MS = 300_000;
const SETTLE_MS = 2_000;
const IDLE_MS = 3_000;
const BIG_ID_BYTES = 1_000_000;
const ARRAY_OBJECTS = 5_000_000;
const NDJSON = "application/x-ndjson";

interface Shape {
  readonly key: string;
  readonly label: string;
  readonly contentType: string;
  build(): { body: Buffer; lines: number };
}

/**
 * Realistic events (names, times, values) whose ids the shape replaces. The shapes that test what is inside an id
 * keep the workload's id and add to it, so that they hold no more lines than the valid baseline and reach
 * validation instead of the limit on lines per batch.
 */
function events(): () => WorkloadEvent {
  const workload = new Workload({ seed: 1, ids: "v4" });
  return () => workload.next();
}

/**
 * Whole lines from `line(i)` while they fit in the limit. Every character is below U+0100, so latin1 writes each
 * as the one byte it stands for: that is how the invalid UTF-8 shape gets its raw 0xff 0xfe bytes.
 */
function fillLines(line: (i: number) => string): { body: Buffer; lines: number } {
  const parts: string[] = [];
  let bytes = 0;
  for (let i = 0; ; i++) {
    const next = line(i);
    if (bytes + next.length > LIMIT) break;
    parts.push(next);
    bytes += next.length;
  }
  return { body: Buffer.from(parts.join(""), "latin1"), lines: parts.length };
}

function repeated(unit: string): { body: Buffer; lines: number } {
  const lines = Math.floor(LIMIT / unit.length);
  return { body: Buffer.alloc(lines * unit.length, unit), lines };
}

const SHAPES: readonly Shape[] = [
  {
    key: "valid",
    label: "valid events (baseline)",
    contentType: NDJSON,
    build: () => {
      const next = events();
      return fillLines(() => ndjsonLine(next()));
    },
  },
  { key: "ones", label: "`1` lines", contentType: NDJSON, build: () => repeated("1\n") },
  { key: "empty", label: "`{}` lines", contentType: NDJSON, build: () => repeated("{}\n") },
  {
    key: "big-id",
    label: "1 MB ids",
    contentType: NDJSON,
    build: () => {
      const next = events();
      return fillLines((i) => {
        const prefix = `big-${i}-`;
        return ndjsonLine({ ...next(), id: prefix + "x".repeat(BIG_ID_BYTES - prefix.length) });
      });
    },
  },
  {
    key: "bad-utf8",
    label: "0xff 0xfe in ids",
    contentType: NDJSON,
    build: () => {
      const next = events();
      return fillLines(() => {
        const e = next();
        return ndjsonLine({ ...e, id: `\u00ff\u00fe${e.id}` });
      });
    },
  },
  {
    key: "nul",
    label: "\\u0000 in ids",
    contentType: NDJSON,
    build: () => {
      const next = events();
      return fillLines(() => {
        const e = next();
        return ndjsonLine({ ...e, id: `\\u0000${e.id}` });
      });
    },
  },
  {
    key: "array",
    label: "array of 5M {}",
    contentType: "application/json",
    build: () => {
      const objects = Math.min(ARRAY_OBJECTS, Math.floor((LIMIT - 2) / 3));
      return { body: Buffer.from(`[${"{},".repeat(objects - 1)}{}]`), lines: objects };
    },
  },
];

// ---- the /healthz probe, in a worker thread ----

type ProbeCommand = { readonly type: "start"; readonly url: string; readonly pid: number } | { readonly type: "stop" };

interface ProbeReport {
  readonly latencies: number[];
  readonly failures: number;
  /** The highest VmRSS seen at the probe's ticks. */
  readonly sampledPeak: number;
}

function probeHealthz(url: string): Promise<{ ms: number; ok: boolean }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done = (ok: boolean) => resolve({ ms: performance.now() - t0, ok });
    const req = http.get(`${url}/healthz`, { agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on("end", () => done(res.statusCode === 200));
      res.on("error", () => done(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(false));
  });
}

function runProbe(): void {
  const port = parentPort;
  if (!port) return;
  let timer: NodeJS.Timeout | undefined;
  let latencies: number[] = [];
  let failures = 0;
  let sampledPeak = 0;
  let outstanding: Promise<void>[] = [];
  port.on("message", async (command: ProbeCommand) => {
    if (command.type === "start") {
      latencies = [];
      failures = 0;
      sampledPeak = 0;
      outstanding = [];
      // A fixed schedule: a stalled server shows as many slow probes, not as one.
      timer = setInterval(() => {
        sampledPeak = Math.max(sampledPeak, memoryOf(command.pid)?.rss ?? 0);
        outstanding.push(
          probeHealthz(command.url).then(({ ms, ok }) => {
            latencies.push(ms);
            if (!ok) failures++;
          }),
        );
      }, PROBE_EVERY_MS);
      return;
    }
    clearInterval(timer);
    await Promise.all(outstanding);
    port.postMessage({ latencies, failures, sampledPeak } satisfies ProbeReport);
  });
}

class Probe {
  private readonly worker = new Worker(new URL(import.meta.url));

  start(server: RunningTally): void {
    this.worker.postMessage({ type: "start", url: server.url, pid: server.pid } satisfies ProbeCommand);
  }

  stop(): Promise<ProbeReport> {
    return new Promise((resolve) => {
      this.worker.once("message", resolve);
      this.worker.postMessage({ type: "stop" } satisfies ProbeCommand);
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

// ---- the server and the requests ----

interface Server {
  readonly tally: RunningTally;
  readonly token: string | null;
  readonly dir: string;
}

async function boot(): Promise<Server> {
  const dir = tempDir("tally-bench-hostile-");
  const data = path.join(dir, "data");
  const tally = await startTally({ args: ["--data", data], env: { TALLY_MAX_BODY_BYTES: String(LIMIT) } });
  progress(`tally serve at ${tally.url}, pid ${tally.pid}, data in ${dir}`);
  return { tally, token: await ingestToken(tally.url, data), dir };
}

async function shutdown(server: Server): Promise<void> {
  await server.tally.stop();
  if (KEEP) progress(`kept ${server.dir}`);
  else fs.rmSync(server.dir, { recursive: true, force: true });
}

interface Answer {
  /** 0 when no answer came. */
  readonly status: number;
  readonly bytes: number;
  readonly ms: number;
  /** The start of the answer, to show what it says. */
  readonly head: string;
  readonly error?: string;
}

const HEAD_CHARS = 160;

function post(server: Server, contentType: string, body: Buffer): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let status = 0;
    let bytes = 0;
    let head = "";
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      resolve({ status, bytes, ms: performance.now() - t0, head, ...(error ? { error } : {}) });
    };
    const req = http.request(
      `${server.tally.url}/v1/events`,
      {
        method: "POST",
        agent: false,
        timeout: POST_TIMEOUT_MS,
        headers: {
          "content-type": contentType,
          "content-length": body.length,
          ...(server.token ? { "x-auth-token": server.token } : {}),
        },
      },
      (res) => {
        status = res.statusCode ?? 0;
        // Counted, not kept: some answers run to hundreds of megabytes.
        res.on("data", (chunk: Buffer) => {
          if (head.length < HEAD_CHARS) head += chunk.subarray(0, HEAD_CHARS).toString("latin1");
          bytes += chunk.length;
        });
        res.on("end", () => finish());
        res.on("error", (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    // A server that answers before it has read the whole body may close while this still writes: the answer counts.
    req.on("error", (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    req.end(body);
  });
}

/** Resets the process's VmHWM (Linux ≥ 4.0, own processes), so that it gives each phase's peak. */
function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface PhaseResult {
  readonly shape: Shape;
  readonly lines: number;
  readonly bodyBytes: number;
  readonly mode: string;
  readonly answers: Answer[];
  readonly rss: { before: number; peak: number; after: number };
  readonly probe: ProbeReport;
  readonly died: string | null;
}

async function phase(
  server: Server,
  probe: Probe,
  shape: Shape,
  built: { body: Buffer; lines: number },
  count: number,
  together: boolean,
): Promise<PhaseResult> {
  const pid = server.tally.pid;
  const exactPeak = resetPeak(pid);
  const before = memoryOf(pid)?.rss ?? Number.NaN;
  probe.start(server.tally);
  let answers: Answer[];
  if (together) {
    answers = await Promise.all(Array.from({ length: count }, () => post(server, shape.contentType, built.body)));
  } else {
    answers = [];
    for (let i = 0; i < count; i++) answers.push(await post(server, shape.contentType, built.body));
  }
  const report = await probe.stop();
  await sleep(SETTLE_MS);
  const after = memoryOf(pid);
  const peak = Math.max(report.sampledPeak, exactPeak ? (after?.peak ?? 0) : 0);
  return {
    shape,
    lines: built.lines,
    bodyBytes: built.body.length,
    mode: together ? `${count} at once` : `${count} in turn`,
    answers,
    rss: { before, peak: peak || Number.NaN, after: after?.rss ?? Number.NaN },
    probe: report,
    died: server.tally.died(),
  };
}

// ---- figures ----

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

function latencyStats(latencies: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN };
}

function ms(value: number): string {
  if (!Number.isFinite(value)) return "-";
  return value < 10 ? value.toFixed(1) : fmt(value);
}

function mem(bytes: number): string {
  return Number.isFinite(bytes) ? mib(bytes) : "-";
}

/** "500", or "200×1 500×2", or "ECONNRESET" when no status came back. */
function statuses(answers: readonly Answer[]): string {
  const counts = new Map<string, number>();
  for (const a of answers) {
    const key = a.status === 0 ? (a.error ?? "none") : String(a.status);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 1) return [...counts.keys()][0] as string;
  return [...counts].map(([k, n]) => `${k}×${n}`).join(" ");
}

/** The start of a phase's first answer, escaped onto one line, or why there was none. */
function firstAnswer(r: PhaseResult): string {
  const a = r.answers[0];
  if (!a) return "";
  if (!a.head) return a.error ?? "";
  // The head was read as latin1, one character a byte: show the bytes outside printable ASCII as \xNN.
  return a.head.slice(0, 100).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function report(idle: ReturnType<typeof latencyStats>, results: readonly PhaseResult[], died: readonly string[]): void {
  const rows = results.map((r) => {
    const h = latencyStats(r.probe.latencies);
    return [
      r.shape.label,
      fmt(r.lines),
      r.mode,
      statuses(r.answers),
      fmt(Math.max(...r.answers.map((a) => a.bytes))),
      ms(Math.max(...r.answers.map((a) => a.ms))),
      mem(r.rss.before),
      mem(r.rss.peak),
      mem(r.rss.after),
      `${ms(h.p50)} / ${ms(h.p99)} / ${ms(h.max)}`,
      Number.isFinite(h.p99) ? `${fmt(h.p99 / idle.p50, 1)}×` : "-",
      fmt(r.probe.failures),
    ];
  });
  const lines = [
    "",
    `POST /v1/events with hostile bodies: ${machine()}`,
    `body limit ${fmt(LIMIT)} bytes; RSS after = ${SETTLE_MS / 1000} s after the last answer`,
    `/healthz started every ${PROBE_EVERY_MS} ms; one unanswered after ${PROBE_TIMEOUT_MS / 1000} s counts as failed, at ${PROBE_TIMEOUT_MS / 1000} s`,
    `/healthz while idle (${IDLE_MS / 1000} s): median ${ms(idle.p50)} ms, p99 ${ms(idle.p99)} ms, max ${ms(idle.max)} ms`,
    "",
    table(
      [
        "shape",
        "items",
        "requests",
        "status",
        "answer bytes",
        "slowest ms",
        "RSS before",
        "peak",
        "after",
        "/healthz p50 / p99 / max ms",
        "p99/idle",
        "failed",
      ],
      rows,
    ),
    "",
    "First answer of each shape:",
    ...results
      .filter((r, i) => results.findIndex((o) => o.shape === r.shape) === i)
      .map((r) => `  ${r.shape.label}: ${firstAnswer(r)}`),
    ...died.map((d) => `Died: ${d}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function main(): Promise<void> {
  const wanted = process.env.BENCH_HOSTILE_SHAPES?.split(",").map((s) => s.trim());
  const shapes = wanted ? SHAPES.filter((s) => wanted.includes(s.key)) : SHAPES;
  if (shapes.length === 0) throw new Error(`BENCH_HOSTILE_SHAPES names none of ${SHAPES.map((s) => s.key).join(",")}`);
  const probe = new Probe();
  let server = await boot();
  const results: PhaseResult[] = [];
  const died: string[] = [];
  try {
    // Start-up work (the derivation worker, the token just made) is not idleness.
    await sleep(SETTLE_MS);
    probe.start(server.tally);
    await sleep(IDLE_MS);
    const idle = latencyStats((await probe.stop()).latencies);
    for (const shape of shapes) {
      const built = shape.build();
      progress(`${shape.label}: ${fmt(built.lines)} lines, ${fmt(built.body.length)} bytes`);
      for (const [count, together] of [
        [SEQUENTIAL, false],
        [CONCURRENT, true],
      ] as const) {
        if (count === 0) continue;
        const gone = server.tally.died();
        if (gone) {
          died.push(gone);
          await shutdown(server);
          server = await boot();
        }
        const result = await phase(server, probe, shape, built, count, together);
        results.push(result);
        const slowest = Math.max(...result.answers.map((a) => a.ms));
        progress(`  ${result.mode}: ${statuses(result.answers)} in ${ms(slowest)} ms`);
      }
    }
    const gone = server.tally.died();
    if (gone) died.push(gone);
    report(idle, results, died);
  } finally {
    await probe.close();
    await shutdown(server);
  }
}

if (isMainThread) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
} else {
  runProbe();
}
