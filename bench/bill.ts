// npm run bench:bill: how fast a billing run is. Loads ACCOUNTS accounts, each with 3 resources (storage.bytes and
// storage.files levels, a requests.put counter) read every hour of October 2026, into a SQLite store and into a
// PostgreSQL schema of its own; then closes October for every account, as `tally close --all` does (list the
// accounts, price each bill from the stored usage, write its grant and charge to the ledger) and prints the time of
// the run, per bill, and projected to 100,000 accounts. Beside it, the baseline measured in the same run on the same
// store: the bare store reads a bill needs (each account's rollups for the month and its current levels, for the
// first BASELINE_ACCOUNTS accounts), with no pricing and no writing, per account; and the read of the month by day
// (accountsDays) for every account, DAY_PAGE accounts at a time. Figures only.
//
// Loading 100,000 accounts (223 million events) takes about an hour, so `--store DIR` keeps the SQLite usage store in
// DIR: loaded there the first time, reused by later runs. A kept store's ledger goes into a fresh charging database
// beside it for each run (the same journal and sync settings as the store's), so every run closes the month afresh.
//
//   node dist/bench/bill.js [--accounts 300] [--stores sqlite,postgres] [--page 100] [--store DIR]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import type { Backend } from "../src/backend/backend.js";
import { openPostgresBackend } from "../src/backend/postgres.js";
import { openSqliteBackend } from "../src/backend/sqlite.js";
import { closeAll, RUN_PAGE_ACCOUNTS } from "../src/charging/billing-run.js";
import { loadPolicy } from "../src/charging/charge-account.js";
import type { ChargingStore } from "../src/charging/charging-store.js";
import { SqliteChargingStore } from "../src/charging/sqlite-charging-store.js";
import type { UsageEvent } from "../src/domain/event.js";
import { freshSchema, TEST_POSTGRES_URL } from "../src/store/test-stores.js";
import { flag, machine, table } from "./harness.js";

const accounts = Number(flag("accounts", "300"));
const kinds = flag("stores", "sqlite,postgres").split(",");
const page = Number(flag("page", String(RUN_PAGE_ACCOUNTS)));
const kept = flag("store", "");
const TARGET = 100_000;
const HOUR = 3_600_000;
const start = Date.UTC(2026, 9, 1);
const hours = 744;
/** Accounts a day read takes at once: as many as the run reads at once. */
const DAY_PAGE = 50;
const BASELINE_ACCOUNTS = 1000;

const POLICY = `resources:
  - {name: storage, unit: GB-month, costpolicy: continuous, metric: storage.bytes}
  - {name: files, unit: file-day, costpolicy: continuous, metric: storage.files}
  - {name: requests, unit: request, costpolicy: discrete, metric: requests.put}
pricelists:
  - {name: list, storage: 0.02, files: 0.0001, requests: 0.000005}
creditplans:
  - {name: monthly, credits: 10, every: month}
agreements:
  - {name: std, pricelist: list, creditplan: monthly}
default_agreement: std
`;

const names = Array.from({ length: accounts }, (_, a) => `AUTH_${a.toString(36).padStart(6, "0")}`);

async function load(backend: Backend): Promise<number> {
  const began = performance.now();
  let batch: UsageEvent[] = [];
  let n = 0;
  const put = async (e: Omit<UsageEvent, "id" | "instance" | "dims" | "server">) => {
    batch.push({ ...e, id: `e${n++}`, server: "s1", instance: "", dims: null });
    if (batch.length >= 20_000) {
      await backend.events.insertEvents(batch);
      batch = [];
    }
  };
  for (const [a, account] of names.entries()) {
    for (let h = 0; h < hours; h++) {
      const time = start + h * HOUR + (a % 60) * 1000;
      await put({ account, time, metric: "storage.bytes", kind: "level", value: BigInt(1e9 * (a + 1) + h * 1e6) });
      await put({ account, time, metric: "storage.files", kind: "level", value: BigInt(1000 + a + h) });
      await put({ account, time, metric: "requests.put", kind: "counter", value: BigInt((a + h) % 50) });
    }
  }
  await backend.events.insertEvents(batch);
  // A read waits for derivation to catch up: done here, outside the timings.
  await backend.usage.currentLevels({ metric: "storage.bytes", accounts: [names[0] as string] });
  return (performance.now() - began) / 1000;
}

/** Seconds per account of the bare reads, over the first BASELINE_ACCOUNTS accounts. */
async function baseline(backend: Backend): Promise<number> {
  const began = performance.now();
  const metrics = ["storage.bytes", "storage.files", "requests.put"];
  const sample = names.slice(0, BASELINE_ACCOUNTS);
  for (const account of sample) {
    await backend.usage.rollups({ account, from: start, to: start + hours * HOUR, metrics });
    for (const metric of metrics.slice(0, 2)) await backend.usage.currentLevels({ metric, accounts: [account] });
  }
  return (performance.now() - began) / 1000 / sample.length;
}

/** Every account's month by day, a page of accounts at a time: seconds, and day rows read. */
async function dayReads(backend: Backend): Promise<{ seconds: number; rows: number }> {
  const began = performance.now();
  const metrics = ["storage.bytes", "storage.files", "requests.put"];
  let rows = 0;
  for (let i = 0; i < names.length; i += DAY_PAGE) {
    const accounts = names.slice(i, i + DAY_PAGE);
    rows += (await backend.usage.accountsDays({ accounts, from: start, to: start + hours * HOUR, metrics })).length;
  }
  return { seconds: (performance.now() - began) / 1000, rows };
}

interface Opened {
  backend: Backend;
  /** Where the run's ledger goes: the backend's own, or a fresh database beside a kept store. */
  charging: ChargingStore;
  /** Whether the usage is loaded already (a kept store from an earlier run). */
  loaded: boolean;
  /** Notes that the usage is loaded, for a kept store's next run. */
  markLoaded: () => void;
  cleanup: () => void;
}

async function open(kind: string): Promise<Opened> {
  if (kind === "sqlite" && kept !== "") {
    fs.mkdirSync(kept, { recursive: true });
    const marker = path.join(kept, `loaded-${accounts}`);
    const backend = await openSqliteBackend({ path: path.join(kept, "tally.sqlite") });
    const ledgerDir = fs.mkdtempSync(path.join(kept, "ledger-"));
    const db = new Database(path.join(ledgerDir, "charging.sqlite"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.defaultSafeIntegers(true);
    return {
      backend,
      charging: new SqliteChargingStore(db),
      loaded: fs.existsSync(marker),
      markLoaded: () => fs.writeFileSync(marker, ""),
      cleanup: () => {
        db.close();
        fs.rmSync(ledgerDir, { recursive: true, force: true });
      },
    };
  }
  if (kind === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-bill-"));
    const backend = await openSqliteBackend({ path: path.join(dir, "tally.sqlite") });
    return {
      backend,
      charging: backend.charging,
      loaded: false,
      markLoaded: () => {},
      cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const backend = await openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true });
  return { backend, charging: backend.charging, loaded: false, markLoaded: () => {}, cleanup: () => {} };
}

const rows: string[][] = [];
for (const kind of kinds) {
  const { backend, charging, loaded, markLoaded, cleanup } = await open(kind);
  try {
    if (loaded) {
      process.stderr.write(`${kind}: ${accounts} accounts loaded already in ${kept}\n`);
      await backend.usage.currentLevels({ metric: "storage.bytes", accounts: [names[0] as string] });
    } else {
      process.stderr.write(`${kind}: loading ${accounts} accounts × 3 × ${hours} hourly readings…\n`);
      process.stderr.write(`${kind}: loaded in ${(await load(backend)).toFixed(1)} s\n`);
      markLoaded();
    }
    await loadPolicy(charging, POLICY, 0, Date.now());
    process.stderr.write(`${kind}: baseline reads…\n`);
    const base = await baseline(backend);
    const days = await dayReads(backend);
    process.stderr.write(`${kind}: billing run…\n`);
    const began = performance.now();
    const closed = await closeAll(charging, backend.usage, "2026-10", Date.UTC(2026, 10, 2), page);
    const run = (performance.now() - began) / 1000;
    if (closed.length !== accounts || closed.some((c) => c.written !== 2)) {
      throw new Error("a bill did not write its grant and charge");
    }
    const replayBegan = performance.now();
    const replay = await closeAll(charging, backend.usage, "2026-10", Date.UTC(2026, 10, 2), page);
    const replayed = (performance.now() - replayBegan) / 1000;
    if (replay.some((c) => c.written !== 0)) throw new Error("a replay wrote entries");
    rows.push([
      kind,
      String(accounts),
      `${run.toFixed(2)} s`,
      `${((run / accounts) * 1000).toFixed(2)} ms`,
      `${((run / accounts) * TARGET).toFixed(0)} s`,
      `${(base * 1000).toFixed(2)} ms`,
      `${(run / accounts / base).toFixed(2)}×`,
      `${replayed.toFixed(2)} s`,
      `${days.seconds.toFixed(2)} s, ${((days.seconds / days.rows) * 1e6).toFixed(2)} µs/row`,
      `${((days.seconds / accounts) * TARGET).toFixed(1)} s`,
    ]);
  } finally {
    await backend.close();
    cleanup();
  }
}
console.log(
  `bench:bill on ${machine()}: ${accounts} accounts × 3 resources × ${hours} hourly readings, period 2026-10, ` +
    `${page} accounts a page`,
);
console.log(
  table(
    [
      "store",
      "accounts",
      "billing run",
      "per bill",
      `projected ${TARGET}`,
      "baseline reads per account",
      "per bill/baseline",
      "replay",
      `day reads (${DAY_PAGE} a page)`,
      `day reads, projected ${TARGET}`,
    ],
    rows,
  ),
);
