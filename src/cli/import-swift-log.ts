// tally import swift-log FILE…: OpenStack Swift proxy access logs into hourly request and byte counters per account,
// through the ingest path; --follow keeps reading a live log.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { EXIT_CODE, validation } from "../domain/errors.js";
import { nameTextProblem } from "../domain/text.js";
import { sendEvents } from "../meters/event-sink.js";
import { followSwiftLog } from "../meters/swift-log-follow.js";
import { importSwiftLog } from "../meters/swift-log-import.js";
import { SwiftLogPositions } from "../meters/swift-log-positions.js";
import { emptyCounts, type SwiftLogCounts } from "../meters/swift-log-stream.js";
import { openEventSink, type SinkFlags, sinkOptions } from "./event-sink.js";
import type { Run } from "./petname.js";
import { startProgress } from "./progress.js";

export interface SwiftLogFlags extends SinkFlags {
  server?: string;
  unattributed: string;
  logName?: string[];
  positions?: string;
  follow?: boolean;
  flushEvery: string;
}

const SHOWN_LINES = 20;
export const POSITIONS_FILE = "swift-log-positions.json";

export async function importSwiftLogCommand(files: string[], flags: SwiftLogFlags): Promise<number> {
  const server = flags.server ?? os.hostname();
  checkName("--server", server);
  checkName("--unattributed", flags.unattributed);
  const inputs = files.length === 0 ? ["-"] : files;
  if (inputs.filter((f) => f === "-").length > 1) throw validation("standard input (-) can be read only once");
  const flushSeconds = Number(flags.flushEvery);
  if (!Number.isInteger(flushSeconds) || flushSeconds < 1) throw validation("--flush-every must be whole seconds ≥ 1");
  if (flags.follow && inputs.includes("-")) throw validation("--follow follows files, not standard input");
  for (const file of inputs) {
    if (file !== "-" && !flags.follow && !fs.existsSync(file)) throw validation(`cannot read ${file}: no such file`);
  }
  const positionsFile = flags.positions ?? path.join(loadConfig(flags).data, POSITIONS_FILE);
  const positions = SwiftLogPositions.open(positionsFile);
  const sink = await openEventSink(flags).catch((error: unknown) => {
    positions.close();
    throw error;
  });

  const total = flags.follow ? undefined : inputs.reduce((n, f) => n + (f === "-" ? 0 : fs.statSync(f).size), 0);
  const progress = startProgress({ label: "importing", ...(total ? { total } : {}), unit: "lines" });
  const counts = emptyCounts();
  let shown = 0;
  let read = 0;
  const started = performance.now();
  const common = {
    server,
    unattributed: flags.unattributed,
    ...(flags.logName && flags.logName.length > 0 ? { logNames: flags.logName } : {}),
    positions,
    send: sendEvents(sink),
    counts,
    onBadLine: (name: string, line: number, reason: string) => {
      if (shown++ < SHOWN_LINES) progress.log(`${name} line ${line}: ${reason}\n`);
    },
    onRejected: (reason: string) => progress.log(`refused: ${reason}\n`),
    onRead: (bytes: number) => {
      read += bytes;
      progress.update(read, counts.lines);
    },
  };
  try {
    if (flags.follow) {
      await followSwiftLog(inputs, {
        ...common,
        flushMs: flushSeconds * 1000,
        onNote: (note) => progress.log(`${note}\n`),
        onFlushed: () => progress.log(`${summary(counts, performance.now() - started)}\n`),
      });
    } else {
      for (const file of inputs) {
        const done = await importSwiftLog(file, common);
        if (done.left > 0) {
          progress.log(`${done.name}: its last line has no newline yet; left for the next import\n`);
        }
      }
    }
  } finally {
    progress.stop();
    positions.close();
    await sink.close();
  }
  const more = counts.bad > SHOWN_LINES ? ` (first ${SHOWN_LINES} shown)` : "";
  process.stdout.write(`${summary(counts, performance.now() - started)}${more}\n`);
  return counts.bad > 0 || counts.rejected > 0 ? EXIT_CODE.VALIDATION : 0;
}

function summary(c: SwiftLogCounts, ms: number): string {
  const seconds = ms / 1000;
  const rate = Math.round(c.lines / Math.max(seconds, 1e-3));
  const other = [...c.other].map(([program, n]) => `${program} ${n}`).join(", ");
  return (
    `read ${c.lines} lines in ${seconds.toFixed(1)} s (${rate}/s): ${c.requests} requests counted, ` +
    `${c.events} events sent (${c.accepted} new, ${c.duplicates} already stored, ${c.rejected} refused); ` +
    `skipped ${c.subrequests} internal subrequests, ${c.alreadyImported} lines imported before, ` +
    `${sum(c.other)} lines of other programs${other ? ` (${other})` : ""}; ${c.bad} unparseable`
  );
}

function sum(map: Map<string, number>): number {
  let n = 0;
  for (const v of map.values()) n += v;
  return n;
}

function checkName(flag: string, value: string): void {
  const problem = value === "" ? "is empty" : nameTextProblem(value);
  if (problem !== null) throw validation(`${flag} ${problem}`);
}

export function registerImportSwiftLog(
  importCommand: Command,
  storeOptions: (cmd: Command) => Command,
  run: Run,
): void {
  sinkOptions(
    storeOptions(
      importCommand
        .command("swift-log")
        .description(
          "count the requests in OpenStack Swift proxy access logs (plain or gzipped; none or - for standard input) " +
            "as hourly requests.* and bytes.* per account",
        ),
    ),
  )
    .argument("[files...]", "log files; - or none for standard input")
    .option("--server <name>", "the server the events are for (default this host's name)")
    .option("--unattributed <account>", "the account for requests whose path names none (/auth, /info)", "unattributed")
    .option("--log-name <name>", "syslog tag of access lines (repeat for more; default proxy-server)", collect, [])
    .option("--positions <file>", `where imported positions are kept (default DATA/${POSITIONS_FILE})`)
    .option("--follow", "keep reading the files as they grow, as tail -F does (rotation and truncation too)")
    .option("--flush-every <seconds>", "with --follow: send what was counted this often", "60")
    .action(run(importSwiftLogCommand));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
