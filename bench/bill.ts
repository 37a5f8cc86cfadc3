// npm run bench:bill: how fast a billing run is. Loads ACCOUNTS accounts, each with 3 resources (storage.bytes and
// storage.files levels, a requests.put counter) read every hour of October 2026, into a SQLite store and into a
// PostgreSQL schema of its own; then closes October for every account (price each bill from the stored rollups,
// write its grant and charge to the ledger) and prints the time of the run, per bill, and projected to 100,000
// accounts. Beside it, the baseline measured in the same run on the same store: the bare store reads a bill needs
// (each account's rollups for the month and its current levels), with no pricing and no writing; and the month read
// by day instead (accountsDays, 1,000 accounts a read). Figures only.
//
//   node dist/bench/bill.js [--accounts 300] [--stores sqlite,postgres] [--page 100]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Backend } from "../src/backend/backend.js";
import { openPostgresBackend } from "../src/backend/postgres.js";
import { openSqliteBackend } from "../src/backend/sqlite.js";
import { closeAccounts, RUN_PAGE_ACCOUNTS } from "../src/charging/billing-run.js";
import { loadPolicy } from "../src/charging/charge-account.js";
import type { UsageEvent } from "../src/domain/event.js";
import { freshSchema, TEST_POSTGRES_URL } from "../src/store/test-stores.js";
import { machine, table } from "./harness.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : (args[i + 1] ?? fallback);
};
const accounts = Number(flag("accounts", "300"));
const kinds = flag("stores", "sqlite,postgres").split(",");
const page = Number(flag("page", String(RUN_PAGE_ACCOUNTS)));
const TARGET = 100_000;
const HOUR = 3_600_000;
const start = Date.UTC(2026, 9, 1);
const hours = 744;

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

async function baseline(backend: Backend): Promise<{ hourly: number; byDay: number }> {
  const began = performance.now();
  const metrics = ["storage.bytes", "storage.files", "requests.put"];
  for (const account of names) {
    await backend.usage.rollups({ account, from: start, to: start + hours * HOUR, metrics });
    for (const metric of metrics.slice(0, 2)) await backend.usage.currentLevels({ metric, accounts: [account] });
  }
  const hourly = (performance.now() - began) / 1000;
  // The month by day instead, as a bill will read it: every account's days in pages of 1,000 accounts.
  const daysBegan = performance.now();
  for (let i = 0; i < names.length; i += 1000) {
    const accounts = names.slice(i, i + 1000);
    await backend.usage.accountsDays({ accounts, from: start, to: start + hours * HOUR, metrics });
  }
  return { hourly, byDay: (performance.now() - daysBegan) / 1000 };
}

async function open(kind: string): Promise<{ backend: Backend; cleanup: () => void }> {
  if (kind === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-bill-"));
    const backend = await openSqliteBackend({ path: path.join(dir, "tally.sqlite") });
    return { backend, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  const backend = await openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true });
  return { backend, cleanup: () => {} };
}

const rows: string[][] = [];
for (const kind of kinds) {
  const { backend, cleanup } = await open(kind);
  try {
    process.stderr.write(`${kind}: loading ${accounts} accounts × 3 × ${hours} hourly readings…\n`);
    const loaded = await load(backend);
    await loadPolicy(backend.charging, POLICY, 0, Date.now());
    process.stderr.write(`${kind}: loaded in ${loaded.toFixed(1)} s; baseline reads…\n`);
    const base = await baseline(backend);
    process.stderr.write(`${kind}: billing run…\n`);
    const began = performance.now();
    const closed = await closeAccounts(backend.charging, backend.usage, names, "2026-10", Date.UTC(2026, 10, 2), page);
    const run = (performance.now() - began) / 1000;
    if (closed.some((c) => c.written !== 2)) throw new Error("a bill did not write its grant and charge");
    const replayBegan = performance.now();
    const replay = await closeAccounts(backend.charging, backend.usage, names, "2026-10", Date.UTC(2026, 10, 2), page);
    const replayed = (performance.now() - replayBegan) / 1000;
    if (replay.some((c) => c.written !== 0)) throw new Error("a replay wrote entries");
    rows.push([
      kind,
      String(accounts),
      `${run.toFixed(2)} s`,
      `${((run / accounts) * 1000).toFixed(2)} ms`,
      `${((run / accounts) * TARGET).toFixed(0)} s`,
      `${base.hourly.toFixed(2)} s`,
      `${(run / base.hourly).toFixed(1)}×`,
      `${base.byDay.toFixed(3)} s`,
      `${replayed.toFixed(2)} s`,
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
      "baseline reads",
      "run/baseline",
      "days read",
      "replay",
    ],
    rows,
  ),
);
