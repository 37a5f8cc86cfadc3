// The load-generating side of bench/ingest.ts, always a separate OS process from `tally serve`.
//
// Given a JSON job as its only argument, it pre-generates the NDJSON batches (not timed), optionally measures the
// raw ceiling on exactly those rows (prepared INSERTs into a bare SQLite table, or COPY into a bare PostgreSQL
// table), then POSTs the batches to Tally over HTTP with keep-alive and a fixed number of requests in flight,
// and prints one JSON line with the figures on stdout. Progress goes to stderr.

import http from "node:http";
import Database from "better-sqlite3";
import { copyBaseline } from "./pg-baseline.js";
import { envInt, type IdKind, kindOf, ndjsonLine, type Shape, Workload } from "./workload.js";

export interface ClientJob {
  readonly ids: IdKind;
  readonly shape: Shape;
  readonly events: number;
  readonly seed: number;
  readonly eventsPerHour: number;
  readonly batchSize: number;
  readonly inFlight: number;
  /** Base URL of the running Tally, always on 127.0.0.1. */
  readonly tallyUrl: string;
  readonly baseline:
    | { readonly kind: "sqlite"; readonly path: string }
    | { readonly kind: "postgres"; readonly url: string; readonly schema: string };
  readonly label: string;
}

export interface ClientResult {
  readonly sent: number;
  readonly counterEvents: number;
  readonly levelEvents: number;
  readonly bytes: number;
  readonly simulatedHours: number;
  readonly generateSeconds: number;
  readonly baselineRows: number;
  readonly baselineSeconds: number;
  readonly httpSeconds: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly firstRejections: string[];
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Requests sent again after the server dropped the connection. */
  readonly retries: number;
  /** CPU seconds (user + system) this process spent posting. */
  readonly cpuSeconds: number;
}

interface Batch {
  readonly body: Buffer;
  readonly lines: number;
}

const REQUEST_TIMEOUT_MS = 300_000;
const MAX_ATTEMPTS = 5;
/**
 * Connection failures worth another attempt. Node's server closes a keep-alive connection that has been idle for
 * keepAliveTimeout (5 s) when its timer runs, even if the next request already sits unread in the socket because
 * the event loop was blocked; the client then sees ECONNRESET.
 */
const RETRYABLE = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED"]);
const fmtMs = (ms: number) => `${Math.round(ms).toLocaleString("en-US")} ms`;
/** An ingest token, when the server wants one (from the environment, so it stays off the command line). */
const TOKEN = process.env.BENCH_TOKEN;

function log(message: string): void {
  process.stderr.write(`  [client] ${message}\n`);
}

function generate(job: ClientJob): {
  batches: Batch[];
  counters: number;
  levels: number;
  bytes: number;
  hours: number;
} {
  const workload = new Workload({ seed: job.seed, ids: job.ids, eventsPerHour: job.eventsPerHour, shape: job.shape });
  const start = workload.clock;
  const batches: Batch[] = [];
  let counters = 0;
  let levels = 0;
  let bytes = 0;
  for (let done = 0; done < job.events; ) {
    const n = Math.min(job.batchSize, job.events - done);
    const lines: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const e = workload.next();
      if (kindOf(e.metric) === "counter") counters++;
      else levels++;
      lines[i] = ndjsonLine(e);
    }
    const body = Buffer.from(lines.join(""));
    bytes += body.length;
    batches.push({ body, lines: n });
    done += n;
  }
  return { batches, counters, levels, bytes, hours: (workload.clock - start) / 3_600_000 };
}

type Row = [string, string, number, string, string, string, number, string];

/** The 8 columns of the baseline tables: the event's fields, its kind and its (empty) instance. */
function rowsOf(batch: Batch): Row[] {
  const text = batch.body.toString();
  const rows: Row[] = [];
  let start = 0;
  for (let i = 0; i < batch.lines; i++) {
    const end = text.indexOf("\n", start);
    const e = JSON.parse(text.slice(start, end));
    start = end + 1;
    const time = typeof e.time === "number" ? e.time : Date.parse(e.time);
    rows.push([e.id, e.server, time, e.account, e.metric, kindOf(e.metric), e.value, ""]);
  }
  return rows;
}

/** Prepared INSERTs into a bare table: WAL, synchronous=FULL, one transaction per batch. Only the inserts are timed. */
function sqliteBaseline(path: string, batches: readonly Batch[]): { rows: number; seconds: number } {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(
      `CREATE TABLE raw_events (id TEXT NOT NULL, server TEXT NOT NULL, time INTEGER NOT NULL, account TEXT NOT NULL,
         metric TEXT NOT NULL, kind TEXT NOT NULL, value INTEGER NOT NULL, instance TEXT NOT NULL)`,
    );
    const insert = db.prepare("INSERT INTO raw_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    const insertAll = db.transaction((rows: Row[]) => {
      for (const r of rows) insert.run(r);
    });
    let rows = 0;
    let ns = 0n;
    for (const batch of batches) {
      const batchRows = rowsOf(batch);
      const t0 = process.hrtime.bigint();
      insertAll(batchRows);
      ns += process.hrtime.bigint() - t0;
      rows += batchRows.length;
    }
    const count = Number(db.prepare("SELECT count(*) FROM raw_events").pluck().get());
    if (count !== rows) throw new Error(`the raw table holds ${count} rows, not ${rows}`);
    return { rows, seconds: Number(ns) / 1e9 };
  } finally {
    db.close();
  }
}

function post(agent: http.Agent, url: URL, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        hostname: url.hostname,
        port: url.port,
        path: "/v1/events",
        method: "POST",
        headers: {
          "content-type": "application/x-ndjson",
          "content-length": body.length,
          ...(TOKEN ? { "x-auth-token": TOKEN } : {}),
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function postAll(job: ClientJob, batches: readonly Batch[]) {
  const url = new URL(job.tallyUrl);
  if (url.hostname !== "127.0.0.1") throw new Error(`the benchmark only talks to 127.0.0.1, not ${url.hostname}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.inFlight });
  let next = 0;
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  const firstRejections: string[] = [];
  const latencies: number[] = [];
  let reported = 0;
  let sentLines = 0;
  let retries = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  let failed = false;
  const worker = async () => {
    try {
      await work();
    } catch (error) {
      failed = true; // the other worker stops after its request in flight
      throw error;
    }
  };
  const work = async () => {
    // Bounded: each pass takes one batch, and there are batches.length of them.
    while (next < batches.length && !failed) {
      const index = next++;
      const batch = batches[index] as Batch;
      const t0 = performance.now();
      let res: { status: number; text: string } | undefined;
      // A connection the server dropped is retried, as a client should: ingest is idempotent on (server, id).
      for (let attempt = 1; !res; attempt++) {
        try {
          res = await post(agent, url, batch.body);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? "";
          if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has(code)) {
            throw new Error(`batch ${index + 1} of ${batches.length}, attempt ${attempt}: ${(error as Error).message}`);
          }
          retries++;
          log(`${job.label}: batch ${index + 1}: ${code} after ${fmtMs(performance.now() - t0)}, retrying`);
        }
      }
      latencies.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`POST /v1/events answered ${res.status}: ${res.text.slice(0, 500)}`);
      const answer = JSON.parse(res.text) as {
        accepted: number;
        duplicates: number;
        rejected: { index: number; reason: string }[];
      };
      accepted += answer.accepted;
      duplicates += answer.duplicates;
      rejected += answer.rejected.length;
      for (const r of answer.rejected.slice(0, 5 - firstRejections.length)) {
        firstRejections.push(`line ${r.index}: ${r.reason}`);
      }
      sentLines += batch.lines;
      const tenth = Math.floor((sentLines * 10) / job.events);
      if (tenth > reported) {
        reported = tenth;
        const seconds = (performance.now() - started) / 1000;
        log(`${job.label}: ${tenth * 10}% posted, ${Math.round(sentLines / seconds).toLocaleString("en-US")} events/s`);
      }
    }
  };
  await Promise.all(Array.from({ length: job.inFlight }, worker));
  const httpSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    httpSeconds,
    accepted,
    duplicates,
    rejected,
    firstRejections,
    latencyMs: { p50: pct(0.5), p99: pct(0.99), max: latencies.at(-1) ?? 0 },
    retries,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "null") as ClientJob | null;
  if (!job) throw new Error("usage: node dist/bench/ingest-client.js JOB_JSON");
  const g0 = performance.now();
  const { batches, counters, levels, bytes, hours } = generate(job);
  const generateSeconds = (performance.now() - g0) / 1000;
  log(`${job.label}: generated ${job.events.toLocaleString("en-US")} events in ${generateSeconds.toFixed(1)} s`);
  const baseline =
    job.baseline.kind === "sqlite"
      ? sqliteBaseline(job.baseline.path, batches)
      : await copyBaseline(job.baseline.url, job.baseline.schema, batches, rowsOf);
  log(`${job.label}: raw baseline ${Math.round(baseline.rows / baseline.seconds).toLocaleString("en-US")} rows/s`);
  // Let the baseline's writes settle before the timed run.
  await new Promise((r) => setTimeout(r, envInt("BENCH_PAUSE_MS", 1000)));
  const http = await postAll(job, batches);
  const result: ClientResult = {
    sent: job.events,
    counterEvents: counters,
    levelEvents: levels,
    bytes,
    simulatedHours: hours,
    generateSeconds,
    baselineRows: baseline.rows,
    baselineSeconds: baseline.seconds,
    ...http,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`ingest-client: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
