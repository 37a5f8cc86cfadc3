// npm run bench:records: how fast StAR export is. Loads ACCOUNTS accounts on SERVERS servers (one storage.bytes
// and one storage.files reading the day before, one storage.bytes reading during the day) into a SQLite store,
// then exports that day's records as XML (as `tally records export` writes them), on one thread and on one per core,
// and prints records per second, the time, the CPU time of all threads and the time projected to 1,000,000
// accounts × 10 servers. Beside it, the baseline measured in the same run: the store reads export needs (the
// accounts a page at a time, and each page's usage of the day by day) on one thread, without building any record.
// Figures only.
//
//   node dist/bench/records.js [--accounts 20000] [--servers 10] [--capacity end|average] [--page ACCOUNTS]

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { UsageEvent } from "../src/domain/event.js";
import { exportThreads } from "../src/records/export-pool.js";
import { renderStarExport } from "../src/records/export-request.js";
import { EXPORT_PAGE_ACCOUNTS, RECORD_METRICS } from "../src/records/export-star.js";
import { DEFAULT_STAR_CONFIG } from "../src/records/star-config.js";
import { accountPages } from "../src/store/rollup-pages.js";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { cpuMicros, flag } from "./harness.js";

const accounts = Number(flag("accounts", "20000"));
const servers = Number(flag("servers", "10"));
const capacity = flag("capacity", "end") as "end" | "average";
const pageAccounts = Number(flag("page", String(EXPORT_PAGE_ACCOUNTS)));
const DAY = 86_400_000;
const from = Date.UTC(2026, 10, 2);
const to = from + DAY;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-records-"));
const store = await openSqliteStore({ path: path.join(dir, "tally.sqlite") });
try {
  const loadStart = performance.now();
  let batch: UsageEvent[] = [];
  let n = 0;
  const put = async (e: Omit<UsageEvent, "id" | "kind" | "instance" | "dims">) => {
    batch.push({ ...e, id: `e${n++}`, kind: "level", instance: "", dims: null });
    if (batch.length >= 50_000) {
      await store.insertEvents(batch);
      batch = [];
    }
  };
  for (let a = 0; a < accounts; a++) {
    const account = `AUTH_${a.toString(36).padStart(6, "0")}`;
    for (let s = 0; s < servers; s++) {
      const server = `server-${s}`;
      await put({ server, account, metric: "storage.bytes", time: from - DAY / 2, value: BigInt(a * 1000 + s) });
      await put({ server, account, metric: "storage.files", time: from - DAY / 2, value: BigInt(a + s) });
      await put({
        server,
        account,
        metric: "storage.bytes",
        time: from + ((a + s) % 24) * 3_600_000,
        value: 2n ** 60n,
      });
    }
  }
  await store.insertEvents(batch);
  // A read waits for derivation to catch up: do it here, outside the timings.
  await store.currentLevels({ metric: "storage.bytes", accounts: ["AUTH_000000"] });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  process.stdout.write(
    `loaded ${n.toLocaleString("en")} events (${accounts.toLocaleString("en")} accounts × ${servers} servers) in ${loadSeconds.toFixed(1)} s\n`,
  );

  // Baseline: the reads alone, as export makes them: the accounts a page at a time, and each page's days.
  const metrics = Object.keys(RECORD_METRICS);
  const baseStart = performance.now();
  const baseCpu = cpuMicros();
  let rows = 0;
  let accountsRead = 0;
  for await (const page of accountPages(store, metrics, pageAccounts)) {
    rows += (await store.accountsDays({ accounts: page, from, to, metrics })).length;
    accountsRead += page.length;
  }
  const baseSeconds = (performance.now() - baseStart) / 1000;
  const baseCpuSeconds = (cpuMicros() - baseCpu) / 1e6;

  /** The export as `tally records export` writes it, on `threads` threads: its bytes, seconds and CPU seconds. */
  const exportOn = async (threads: number) => {
    const start = performance.now();
    const cpu = cpuMicros();
    let bytes = 0;
    const request = { from, to, period: "day" as const, capacity, format: "star-xml" as const };
    const config = { ...DEFAULT_STAR_CONFIG };
    for await (const piece of renderStarExport(store, request, config, Date.now(), { threads, pageAccounts })) {
      bytes += piece.length;
    }
    return { bytes, seconds: (performance.now() - start) / 1000, cpuSeconds: (cpuMicros() - cpu) / 1e6 };
  };
  const records = accounts * servers;
  const out = [
    `baseline (reads only): ${rows.toLocaleString("en")} day rows for ${accountsRead.toLocaleString("en")} accounts in ${baseSeconds.toFixed(2)} s (CPU ${baseCpuSeconds.toFixed(2)} s)`,
  ];
  for (const threads of [...new Set([1, exportThreads()])]) {
    const { bytes, seconds, cpuSeconds } = await exportOn(threads);
    const projected = (seconds * (1_000_000 * 10)) / records;
    out.push(
      `export (${capacity}, ${threads} thread${threads === 1 ? "" : "s"}): ${records.toLocaleString("en")} records, ${(bytes / 1e6).toFixed(1)} MB of XML, in ${seconds.toFixed(2)} s (CPU ${cpuSeconds.toFixed(2)} s, ${((cpuSeconds * 1e6) / records).toFixed(1)} µs a record): ${Math.round(records / seconds).toLocaleString("en")} records/s, ${(seconds / baseSeconds).toFixed(2)} × the baseline; projected to 1,000,000 accounts × 10 servers: ${projected.toFixed(0)} s (target 30 s)`,
    );
  }
  process.stdout.write(`${out.join("\n")}\n`);
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
