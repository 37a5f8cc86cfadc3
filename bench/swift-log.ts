// npm run bench:swift-log [-- --lines N --accounts N]: how fast `tally import swift-log` reads a Swift proxy access
// log into a fresh SQLite store, against a baseline measured in the same run: reading the same file and splitting it
// into lines, which is the least any importer must do.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NODE_FLAGS } from "../src/cli/node-flags.js";
import { timedRun } from "./child-cpu.js";
import { TALLY_MAIN } from "./harness.js";
import { swiftLogWorkload } from "./swift-log-workload.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const LINES = arg("lines", 2_000_000);
const ACCOUNTS = arg("accounts", 1_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-swift-log-"));

try {
  const file = path.join(dir, "proxy.log");
  const out = fs.openSync(file, "w");
  const part = 200_000;
  let requests = 0;
  for (let i = 0; i < LINES; i += part) {
    const { text, totals } = swiftLogWorkload({
      lines: Math.min(part, LINES - i),
      accounts: ACCOUNTS,
      start: Date.UTC(2026, 10, 23) + (i / part) * 3_600_000,
      hours: 1,
      seed: i + 1,
    });
    fs.writeSync(out, `${text.join("\n")}\n`);
    requests += totals.requests;
  }
  fs.closeSync(out);
  const bytes = fs.statSync(file).size;
  console.log(
    `${LINES.toLocaleString("en")} lines (${(bytes / 2 ** 20).toFixed(0)} MiB, ${requests.toLocaleString("en")} ` +
      `client requests, ${ACCOUNTS} accounts), SQLite in ${dir}`,
  );

  const baseline = inProcess(() => {
    const fd = fs.openSync(file, "r");
    const buffer = Buffer.allocUnsafe(256 * 1024);
    let rest = "";
    let lines = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      const text = rest + buffer.toString("latin1", 0, n);
      let pos = 0;
      for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", pos)) {
        lines++;
        pos = nl + 1;
      }
      rest = text.slice(pos);
    }
    fs.closeSync(fd);
    if (lines !== LINES) throw new Error(`split ${lines} lines, not ${LINES}`);
  });

  const imported = timedRun(process.execPath, [
    ...NODE_FLAGS,
    TALLY_MAIN,
    "import",
    "swift-log",
    "--data",
    path.join(dir, "data"),
    "--server",
    "bench",
    file,
  ]);
  const counted = /(\d+) requests counted/.exec(imported.stdout)?.[1];
  if (Number(counted) !== requests) throw new Error(`counted ${counted} requests, not ${requests}: ${imported.stdout}`);
  console.log(`  ${imported.stdout.trim()}`);

  const row = (label: string, r: { wallSeconds: number; cpuSeconds: number }) =>
    console.log(
      `${label.padEnd(34)} wall ${r.wallSeconds.toFixed(2).padStart(6)} s ${rate(r.wallSeconds)} lines/s | ` +
        `CPU ${r.cpuSeconds.toFixed(2).padStart(6)} s ${rate(r.cpuSeconds)} lines per CPU-second`,
    );
  row("baseline: read and split lines", baseline);
  row("tally import swift-log (SQLite)", imported);
  console.log(
    `import: ${pct(baseline.wallSeconds / imported.wallSeconds)} of the baseline's rate (wall), ` +
      `${pct(baseline.cpuSeconds / imported.cpuSeconds)} per CPU-second; target: 200,000 lines/s. The import's ` +
      "figures include starting Node, opening and closing the store.",
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

function inProcess(work: () => void): { wallSeconds: number; cpuSeconds: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  work();
  const used = process.cpuUsage(cpu);
  return { wallSeconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

function rate(seconds: number): string {
  return Math.round(LINES / seconds)
    .toLocaleString("en")
    .padStart(10);
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
