// npm run bench:scan [-- --files N]: how long `tally meter scan --dir` takes over a tree of N files (default
// 1,000,000) made in a temporary directory, against GNU du over the same tree in the same run (du also stats every
// file and counts hard links once). Files are sparse: their sizes are real, their blocks are not written.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { NODE_FLAGS } from "../src/cli/node-flags.js";
import { timedRun } from "./child-cpu.js";
import { TALLY_MAIN } from "./harness.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const FILES = arg("files", 1_000_000);
const ACCOUNTS = arg("accounts", 100);
const PER_DIR = 1_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-scan-"));
const tree = path.join(dir, "tree");

try {
  let made = performance.now();
  let bytes = 0n;
  const dirs = new Set<string>();
  for (let i = 0; i < FILES; i++) {
    const sub = path.join(tree, `acct${i % ACCOUNTS}`, `d${Math.floor(i / (ACCOUNTS * PER_DIR))}`);
    if (!dirs.has(sub)) {
      fs.mkdirSync(sub, { recursive: true });
      dirs.add(sub);
    }
    const size = (i * 7919) % 1_000_000;
    const fd = fs.openSync(path.join(sub, `f${i}`), "w");
    fs.ftruncateSync(fd, size);
    fs.closeSync(fd);
    bytes += BigInt(size);
  }
  made = (performance.now() - made) / 1000;
  console.log(
    `${FILES.toLocaleString("en")} files in ${ACCOUNTS} account directories, ${bytes} bytes (sparse), made in ` +
      `${made.toFixed(1)} s`,
  );

  const du = timedRun("du", ["-s", "-B1", "--apparent-size", tree]);
  const scan = timedRun(process.execPath, [
    ...NODE_FLAGS,
    TALLY_MAIN,
    "meter",
    "scan",
    "--data",
    path.join(dir, "data"),
    "--server",
    "bench",
    "--dir",
    tree,
  ]);
  if (!scan.stdout.includes(`${FILES} files`)) throw new Error(`the scan did not count ${FILES} files: ${scan.stdout}`);
  console.log(`  ${scan.stdout.trim()}`);
  const row = (label: string, r: { wallSeconds: number; cpuSeconds: number }) =>
    console.log(
      `${label.padEnd(36)} wall ${r.wallSeconds.toFixed(2).padStart(7)} s ${rate(r.wallSeconds)} files/s | ` +
        `CPU ${r.cpuSeconds.toFixed(2).padStart(7)} s`,
    );
  row("baseline: du -s --apparent-size", du);
  row("tally meter scan --dir (SQLite)", scan);
  console.log(`scan: ${((du.wallSeconds / scan.wallSeconds) * 100).toFixed(1)}% of du's rate (wall)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}

function rate(seconds: number): string {
  return Math.round(FILES / seconds)
    .toLocaleString("en")
    .padStart(10);
}
