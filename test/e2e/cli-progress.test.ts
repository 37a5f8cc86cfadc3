// Progress on a terminal for the long-running commands, and none without one: `tally ingest` and `tally rebuild` run
// with standard error on a pseudo-terminal (util-linux's `script`) and standard output in a file, then on pipes.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { NODE_FLAGS } from "../../src/cli/node-flags.js";
import { CLI, childEnv, goodEvent, ndjson, removeDir, runTally, tempDir } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) removeDir(dir);
});

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Runs `tally ARGS…` with a terminal as standard error: what the terminal showed, standard output and the exit code. */
function runOnTerminal(
  dir: string,
  args: readonly string[],
): Promise<{ terminal: string; stdout: string; code: number }> {
  const out = path.join(dir, "stdout.txt");
  const command = [process.execPath, ...NODE_FLAGS, CLI, ...args].map(quote).join(" ");
  return new Promise((resolve, reject) => {
    // -e: script exits with the command's status; -q: no "Script started" lines of its own.
    const child = spawn("script", ["-qec", `${command} >${quote(out)} </dev/null`, "/dev/null"], {
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    let terminal = "";
    child.stdout.on("data", (c: Buffer) => {
      terminal += c.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ terminal, stdout: fs.readFileSync(out, "utf8"), code: code ?? -1 }));
  });
}

function fixture(label: string): { dir: string; file: string; badLine: number } {
  const dir = tempDir(label);
  dirs.push(dir);
  const lines = ndjson(Array.from({ length: 25_000 }, () => goodEvent({ server: "srv-progress" }))).split("\n");
  const badLine = 12_345;
  lines[badLine - 1] = "{cut short";
  const file = path.join(dir, "events.ndjson");
  fs.writeFileSync(file, lines.join("\n"));
  return { dir, file, badLine };
}

const SUMMARY = /^ingested 25000 events in [0-9.]+ s \([0-9]+\/s\): 24999 accepted, 0 duplicates, 1 rejected\n$/;

describe("progress of tally ingest and tally rebuild", () => {
  it("on a terminal: a bar on standard error, the rejected line above it, the bar cleared; stdout unchanged", async () => {
    const { dir, file, badLine } = fixture("progress-tty");
    const ingest = await runOnTerminal(dir, ["ingest", file, "--data", dir]);
    expect(ingest.code).toBe(2);
    expect(ingest.stdout).toMatch(SUMMARY);
    // The rejected line is written over the bar's line, erased first (ESC [2K), and the bar goes on below it.
    const rejected = ingest.terminal.indexOf(`\x1b[2Kline ${badLine}: not valid JSON\r\n`);
    expect(rejected).toBeGreaterThanOrEqual(0);
    const shown = stripVTControlCharacters(ingest.terminal.slice(rejected));
    expect(shown).toMatch(/ingesting \[=+\] 100% \| 25,000 events \| \d+s/);
    // The last thing written erases the bar's line (clear to the end of the screen).
    expect(ingest.terminal.endsWith("\x1b[0J")).toBe(true);

    const rebuild = await runOnTerminal(dir, ["rebuild", "--data", dir]);
    expect(rebuild.code).toBe(0);
    expect(rebuild.stdout).toMatch(/^rebuilt \d+ hourly rollups from 24999 events in [0-9.]+ s\n$/);
    expect(stripVTControlCharacters(rebuild.terminal)).toMatch(/^rebuilding rollups… \| \d+s/);
    expect(rebuild.terminal.endsWith("\x1b[0J")).toBe(true);
  });

  it("without a terminal: standard error holds the rejected lines only, and nothing for a rebuild", async () => {
    const { dir, file, badLine } = fixture("progress-pipe");
    const ingest = await runTally(["ingest", file, "--data", dir]);
    expect(ingest.code).toBe(2);
    expect(ingest.stdout).toMatch(SUMMARY);
    expect(ingest.stderr).toBe(`line ${badLine}: not valid JSON\n`);

    const rebuild = await runTally(["rebuild", "--data", dir]);
    expect(rebuild.code).toBe(0);
    expect(rebuild.stderr).toBe("");
    expect(rebuild.stdout).toMatch(/^rebuilt \d+ hourly rollups from 24999 events in [0-9.]+ s\n$/);
  });
});
