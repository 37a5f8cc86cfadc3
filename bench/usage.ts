// npm run bench:usage: loads many accounts on many servers through the store's ingest, then prints the latency of
// the usage table over HTTP, measured from a separate client process (bench/usage-client.ts): the first page, a
// deep page, a subset, an account page, and swift-stats io_sum and io_detail for an account with 30 days of hourly
// traffic. Figures only: it never
// passes or fails on time. Beside them it prints the baseline: the bare SQL that finds a first page's keys, on the
// store's own connection, without HTTP or rendering.
//
//   node dist/bench/usage.js [--accounts 1000000] [--servers 10] [--per-account 3] [--limit 1000] [--runs 50]
//                            [--store sqlite|postgres|both] [--postgres postgres://postgres@127.0.0.1:5432/test]
//                            [--sqlite-dir DIR] [--postgres-schema NAME]
//
// --sqlite-dir keeps the SQLite store in DIR, and --postgres-schema the PostgreSQL store in the schema NAME; run again
// with the same sizes, each is measured without loading it again (loading a million accounts takes many minutes); the
// expected totals come from the same seeded generator.

import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import type { Backend } from "../src/backend/backend.js";
import { postgresBackendOn } from "../src/backend/postgres.js";
import { sqliteBackendOn } from "../src/backend/sqlite.js";
import type { UsageEvent } from "../src/domain/event.js";
import { compareUtf8 } from "../src/domain/rollup.js";
import { createApp } from "../src/http/app.js";
import { createLogger } from "../src/log/logger.js";
import type { UsageStore } from "../src/store/port.js";
import { openPostgresStore } from "../src/store/postgres/postgres-store.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { encodeCursor } from "../src/usage/usage-request.js";
import { runNodeScript } from "./harness.js";
import type { UsageCase, UsageClientJob, UsageTiming } from "./usage-client.js";

interface Options {
  accounts: number;
  servers: number;
  perAccount: number;
  limit: number;
  runs: number;
  store: "sqlite" | "postgres" | "both";
  postgres: string;
  sqliteDir: string | null;
  postgresSchema: string | null;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    accounts: 1_000_000,
    servers: 10,
    perAccount: 3,
    limit: 1000,
    runs: 50,
    store: "both",
    postgres: process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test",
    sqliteDir: null,
    postgresSchema: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--accounts") options.accounts = Number(value);
    else if (flag === "--servers") options.servers = Number(value);
    else if (flag === "--per-account") options.perAccount = Number(value);
    else if (flag === "--limit") options.limit = Number(value);
    else if (flag === "--runs") options.runs = Number(value);
    else if (flag === "--store") options.store = value as Options["store"];
    else if (flag === "--postgres") options.postgres = value;
    else if (flag === "--sqlite-dir") options.sqliteDir = value;
    else if (flag === "--postgres-schema") options.postgresSchema = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  options.perAccount = Math.min(options.perAccount, options.servers);
  return options;
}

/** A small seeded generator (mulberry32), so both stores get the same data. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const accountId = (i: number) => `a${i.toString(36)}`;

/** The account swift-stats is asked about: 30 days of hourly requests and bytes on two servers, beside the rest. */
const BUSY_ACCOUNT = "AUTH_busy";
const BUSY_DAYS = 30;
const BUSY_METRICS = ["requests.get", "requests.put", "requests.head", "bytes.in", "bytes.out"];
/** The first hour of the busy account's traffic. */
const BUSY_START = Date.UTC(2026, 0, 1);

/**
 * Each account on perAccount servers, with sizes from bytes to terabytes; returns every account's total. With no
 * store, only the totals (of a store loaded before).
 */
async function load(store: UsageStore | null, o: Options, label: string): Promise<Map<string, bigint>> {
  const random = seeded(468);
  const totals = new Map<string, bigint>();
  const time = Date.now() - 60_000;
  const started = performance.now();
  let batch: UsageEvent[] = [];
  let events = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    if (store === null) {
      batch = [];
      return;
    }
    const out = await store.insertEvents(batch);
    if (out.rejected.length > 0) throw new Error(`rejected: ${out.rejected[0]?.reason}`);
    events += batch.length;
    batch = [];
    if (events % 500_000 < 50_000) {
      const rate = Math.round(events / ((performance.now() - started) / 1000));
      process.stderr.write(`\r${label}: ${events} events loaded (${rate}/s)   `);
    }
  };
  for (let i = 0; i < o.accounts; i++) {
    const account = accountId(i);
    const first = Math.floor(random() * o.servers);
    let total = 0n;
    for (let k = 0; k < o.perAccount; k++) {
      const value = BigInt(Math.floor(10 ** (2 + random() * 10)));
      total += value;
      batch.push({
        id: `b${i}-${k}`,
        server: `server-${String((first + k) % o.servers).padStart(2, "0")}`,
        time,
        account,
        metric: "storage.bytes",
        kind: "level",
        value,
        instance: "",
        dims: null,
      });
    }
    totals.set(account, total);
    if (batch.length >= 50_000) await flush();
  }
  // One event per server, metric and hour of the busy account's 30 days.
  const start = BUSY_START;
  for (let hour = 0; hour < BUSY_DAYS * 24; hour++) {
    for (const server of ["server-00", "server-01"]) {
      for (const metric of BUSY_METRICS) {
        batch.push({
          id: `busy-${server}-${metric}-${hour}`,
          server,
          time: start + hour * 3_600_000 + Math.floor(random() * 3_600_000),
          account: BUSY_ACCOUNT,
          metric,
          kind: "counter",
          value: BigInt(1 + Math.floor(random() * 1_000_000)),
          instance: "",
          dims: null,
        });
      }
    }
    if (batch.length >= 50_000) await flush();
  }
  await flush();
  const seconds = (performance.now() - started) / 1000;
  if (store !== null) {
    process.stderr.write(`\r${label}: loaded ${events} events for ${o.accounts} accounts in ${seconds.toFixed(0)} s\n`);
  }
  return totals;
}

async function timeIt(runs: number, work: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  for (let i = 0; i < 3; i++) await work(); // warm up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)] as number,
    p95: times[Math.floor(times.length * 0.95)] as number,
  };
}

async function measure(
  backend: Backend,
  totals: Map<string, bigint>,
  o: Options,
  label: string,
  baseline: () => Promise<unknown>,
): Promise<void> {
  const app = createApp({
    backend,
    logger: createLogger("silent"),
    maxBodyBytes: 1 << 20,
    localReads: true,
    maxQueryDays: 366,
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The row at 90% depth, from the totals the loader made: the order is total descending, then account.
  const order = [...totals].sort(([a, x], [b, y]) => (x === y ? compareUtf8(a, b) : x > y ? -1 : 1));
  const deep = order[Math.floor(order.length * 0.9)] as [string, bigint];
  const cursor = encodeCursor({ value: deep[1], account: deep[0] }, { by: "total" }, "storage.bytes");
  const deepByAccount = [...totals.keys()].sort(compareUtf8)[Math.floor(totals.size * 0.9)] as string;
  const accountCursor = encodeCursor({ value: null, account: deepByAccount }, { by: "account" }, "storage.bytes");
  const random = seeded(7);
  const subset = Array.from({ length: 1000 }, () => accountId(Math.floor(random() * o.accounts)));
  const expectedSubset = new Set(subset).size;
  const someone = accountId(Math.floor(o.accounts / 3));
  const n = Math.min(o.limit, o.accounts);

  const cases: UsageCase[] = [
    { name: `first page, ${n} rows (JSON)`, route: `/usage?format=json&limit=${o.limit}`, rows: n },
    { name: `first page, ${n} rows (HTML)`, route: `/usage?limit=${o.limit}` },
    { name: `page at 90% depth by total, ${n} rows`, route: `/usage?format=json&limit=${o.limit}&after=${cursor}` },
    {
      name: `page at 90% depth by account, ${n} rows`,
      route: `/usage?format=json&sort=account&limit=${o.limit}&after=${accountCursor}`,
    },
    {
      name: "subset of 1000 accounts",
      route: `/usage?format=json&limit=1000&accounts=${subset.join(",")}`,
      rows: expectedSubset,
    },
    // A search that matches a few dozen accounts, and one that matches tens of thousands (on PostgreSQL, more than it
    // lists before walking the table in its order).
    { name: "search, few matches", route: `/usage?format=json&limit=100&q=${someone.slice(0, 4)}` },
    { name: "search, many matches", route: `/usage?format=json&limit=100&q=${someone.slice(0, 2)}` },
    { name: "account page (JSON)", route: `/usage/accounts/${someone}?format=json` },
    { name: "account page (HTML)", route: `/usage/accounts/${someone}` },
    ...swiftStatsCases(),
  ];
  process.stdout.write(`\n${label}: ${o.accounts} accounts on ${o.servers} servers (${o.perAccount} each)\n`);
  const line = (name: string, t: { median: number; p95: number }) =>
    process.stdout.write(
      `  ${name.padEnd(42)} median ${t.median.toFixed(1).padStart(7)} ms   p95 ${t.p95.toFixed(1).padStart(7)} ms\n`,
    );
  line(`baseline: bare SQL for ${n + 1} keys`, await timeIt(o.runs, baseline));
  // Over HTTP from a process of its own, so that reading the answers does not share this process's thread.
  const job: UsageClientJob = { base, runs: o.runs, cases };
  for (const t of await runNodeScript<UsageTiming[]>("usage-client.js", job)) line(t.name, t);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** io_sum and io_detail over the busy account's 30 days, hourly, as a billing system would ask for a month. */
function swiftStatsCases(): UsageCase[] {
  const text = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace("T", "%20");
  const start = BUSY_START;
  const range = `account_id=${BUSY_ACCOUNT}&begin_time=${text(start)}&end_time=${text(start + BUSY_DAYS * 86_400_000)}`;
  return [
    { name: `swift-stats io_sum, ${BUSY_DAYS} days`, route: `/io_sum?${range}` },
    { name: `swift-stats io_detail, ${BUSY_DAYS} days hourly`, route: `/io_detail?${range}` },
  ];
}

/** What a kept store was loaded with: run again with the same, it is measured without loading. */
const sizesOf = (o: Options) =>
  JSON.stringify({ accounts: o.accounts, servers: o.servers, perAccount: o.perAccount, busyDays: BUSY_DAYS });

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.store !== "postgres") {
    const dir = o.sqliteDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-usage-"));
    fs.mkdirSync(dir, { recursive: true });
    const loadedFile = path.join(dir, "bench-loaded.json");
    const sizes = sizesOf(o);
    const loaded = fs.existsSync(loadedFile) && fs.readFileSync(loadedFile, "utf8") === sizes;
    if (!loaded) for (const f of ["", "-wal", "-shm"]) fs.rmSync(path.join(dir, `tally.sqlite${f}`), { force: true });
    const store = await openSqliteStore({ path: path.join(dir, "tally.sqlite") });
    try {
      const totals = await load(loaded ? null : store, o, "sqlite");
      if (!loaded) fs.writeFileSync(loadedFile, sizes);
      else process.stderr.write(`sqlite: measuring the store loaded before in ${dir}\n`);
      // A read first: the store writes the usage table behind ingest, and brings it up to date before a read.
      await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 1 });
      const metricId = store.db.prepare("SELECT id FROM usage_metrics WHERE name = 'storage.bytes'").pluck().get();
      const keys = store.db.prepare(
        "SELECT account, hex(rank) FROM usage_totals WHERE metric_id = ? ORDER BY rank, account LIMIT ?",
      );
      await measure(sqliteBackendOn(store), totals, o, "SQLite", async () => keys.raw(true).all(metricId, o.limit + 1));
    } finally {
      await store.close();
      if (o.sqliteDir === null) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (o.store !== "sqlite") {
    const schema = o.postgresSchema ?? `tally_bench_${process.pid}`;
    const store = await openPostgresStore({ url: o.postgres, schema, dropSchemaOnClose: o.postgresSchema === null });
    try {
      await store.pool.query("CREATE TABLE IF NOT EXISTS bench_loaded (sizes text NOT NULL)");
      const marks = await store.pool.query<{ sizes: string }>("SELECT sizes FROM bench_loaded");
      const loaded = marks.rows.length === 1 && marks.rows[0]?.sizes === sizesOf(o);
      if (!loaded && (await store.pool.query("SELECT 1 FROM series LIMIT 1")).rows.length > 0) {
        throw new Error(`schema ${schema} holds a store of other sizes: drop it first (DROP SCHEMA ${schema} CASCADE)`);
      }
      const totals = await load(loaded ? null : store, o, "postgres");
      if (!loaded) await store.pool.query("INSERT INTO bench_loaded (sizes) VALUES ($1)", [sizesOf(o)]);
      else process.stderr.write(`postgres: measuring the store loaded before in schema ${schema}\n`);
      // The tables as autovacuum leaves them on a live database, vacuumed and with statistics. Straight after a bulk
      // load the planner takes the usage tables for empty and sorts a whole table where an index answers, a scan
      // (the search) reads every row version the load's updates left, and autovacuum, busy with the tables for
      // minutes, takes the cores the reads measured here need.
      const tables = await store.pool.query<{ name: string }>(
        "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = $1",
        [schema],
      );
      await store.pool.query(`VACUUM (ANALYZE) ${tables.rows.map((t) => t.name).join(", ")}`);
      await measure(await postgresBackendOn(store), totals, o, "PostgreSQL", () =>
        store.pool.query(
          `SELECT account, total::text FROM "${schema}".usage_totals WHERE metric = 'storage.bytes'
           ORDER BY -total, account LIMIT ${o.limit + 1}`,
        ),
      );
    } finally {
      await store.close();
    }
  }
}

await main();
