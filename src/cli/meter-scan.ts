// tally meter scan: the space scanner. Reads how much each account stores, in a directory tree (--dir) or in a Swift
// cluster (--swift), and sends storage.* levels for this server through the ingest path; once, or --every interval.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { AppError, EXIT_CODE, validation } from "../domain/errors.js";
import { nameTextProblem } from "../domain/text.js";
import { sendEvents } from "../meters/event-sink.js";
import { parseOwners, scanDirectory } from "../meters/scan-dir.js";
import { type Levels, ScanAccountsFile, scanEvents, withVanished } from "../meters/scan-levels.js";
import { headSwiftAccount, parseAccountList, swiftToken } from "../meters/scan-swift.js";
import type { SendEvents } from "../meters/send-events.js";
import { openEventSink, type SinkFlags, sinkOptions } from "./event-sink.js";
import type { Run } from "./petname.js";
import { startProgress } from "./progress.js";

/** Waits `ms`, or less when the signal aborts first. */
const sleep = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

export interface ScanFlags extends SinkFlags {
  server?: string;
  dir?: string;
  by: string;
  owners?: string;
  unattributed: string;
  swift?: string;
  accounts?: string;
  swiftTokenFile?: string;
  swiftUser?: string;
  swiftKeyFile?: string;
  every?: string;
}

const DIR_METRICS = ["storage.bytes", "storage.files"];
const SWIFT_METRICS = ["storage.bytes", "storage.files", "storage.containers"];
const SHOWN_PROBLEMS = 20;
export const SCAN_ACCOUNTS_FILE = "scan-accounts.json";

export async function meterScanCommand(flags: ScanFlags): Promise<number> {
  const server = flags.server ?? os.hostname();
  const nameProblem = nameTextProblem(server);
  if (server === "" || nameProblem !== null) throw validation(`--server ${nameProblem ?? "is empty"}`);
  if ((flags.dir === undefined) === (flags.swift === undefined))
    throw validation("give one of --dir PATH or --swift URL");
  const every = flags.every === undefined ? null : parseInterval(flags.every);
  const scan = flags.dir !== undefined ? dirScanner(flags, flags.dir) : swiftScanner(flags, flags.swift as string);
  const remembered = new ScanAccountsFile(path.join(loadConfig(flags).data, SCAN_ACCOUNTS_FILE));
  const sink = await openEventSink(flags);
  const send = sendEvents(sink);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let failed = false;
  try {
    for (;;) {
      const started = Date.now();
      failed = (await scanOnce(scan, server, send, remembered, controller.signal)) || failed;
      if (every === null || controller.signal.aborted) break;
      await sleep(Math.max(0, started + every - Date.now()), controller.signal);
      if (controller.signal.aborted) break;
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await sink.close();
  }
  return failed ? EXIT_CODE.VALIDATION : 0;
}

interface Scanner {
  /** What is scanned, to keep the accounts it last reported apart from another target's. */
  readonly target: string;
  readonly metrics: readonly string[];
  /** The levels found, and whether any problem was reported. */
  run(signal: AbortSignal): Promise<{ levels: Levels; problems: number; summary: string; unread?: string[] }>;
}

async function scanOnce(
  scanner: Scanner,
  server: string,
  send: SendEvents,
  remembered: ScanAccountsFile,
  signal: AbortSignal,
): Promise<boolean> {
  const time = Date.now();
  const started = performance.now();
  const { levels, problems, summary, unread = [] } = await scanner.run(signal);
  if (signal.aborted) {
    process.stderr.write("scan stopped before it finished; nothing sent for it\n");
    return false;
  }
  // An account that could not be read this time keeps its last level, and its place in the list.
  const previous = remembered.read(scanner.target);
  const all = withVanished(
    levels,
    previous.filter((a) => !unread.includes(a)),
    scanner.metrics,
  );
  const events = scanEvents(server, scanner.target, time, all);
  const result = await send(events);
  for (const reason of result.rejected) process.stderr.write(`refused: ${reason}\n`);
  remembered.write(scanner.target, [...levels.keys(), ...unread.filter((a) => previous.includes(a))]);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `scanned ${scanner.target} in ${seconds} s: ${summary}; ${levels.size} accounts, ` +
      `${all.size - levels.size} gone since the last scan; ${events.length} events sent ` +
      `(${result.accepted} new, ${result.duplicates} already stored, ${result.rejected.length} refused)\n`,
  );
  return problems > 0 || result.rejected.length > 0;
}

function dirScanner(flags: ScanFlags, dir: string): Scanner {
  if (flags.by !== "dir" && flags.by !== "owner") throw validation('--by must be "dir" or "owner"');
  if (flags.by === "owner" && !flags.owners) throw validation("--by owner needs --owners FILE (lines of UID ACCOUNT)");
  let owners: Map<number, string> | undefined;
  if (flags.owners) {
    try {
      owners = parseOwners(fs.readFileSync(flags.owners, "utf8"), flags.owners);
    } catch (error) {
      throw validation((error as Error).message);
    }
  }
  const root = path.resolve(dir);
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw validation(`--dir ${dir} is not a directory`);
  return {
    target: `dir:${flags.by}:${root}`,
    metrics: DIR_METRICS,
    run: async (signal) => {
      const progress = startProgress({ label: "scanning", unit: "files" });
      let shown = 0;
      try {
        const scan = await scanDirectory(root, {
          by: flags.by as "dir" | "owner",
          ...(owners ? { owners } : {}),
          unattributed: flags.unattributed,
          onProblem: (p, problem) => {
            if (shown++ < SHOWN_PROBLEMS) progress.log(`${p}: ${problem}\n`);
          },
          onProgress: (files) => progress.update(0, files),
          signal,
        });
        const levels: Levels = new Map();
        for (const [account, s] of scan.accounts) {
          levels.set(account, { "storage.bytes": s.bytes, "storage.files": BigInt(s.files) });
        }
        for (const [uid, files] of scan.unmappedUids) {
          progress.log(
            `uid ${uid} has no account in ${flags.owners}: its ${files} files count as ${flags.unattributed}\n`,
          );
        }
        const more = scan.problems > SHOWN_PROBLEMS ? ` (first ${SHOWN_PROBLEMS} shown)` : "";
        return {
          levels,
          problems: scan.problems,
          summary:
            `${scan.files} files, ${scan.hardLinks} more names of hard-linked files not counted again, ` +
            `${scan.symlinks} symbolic links not followed` +
            (flags.by === "dir" ? `, ${scan.outside} files outside account directories not counted` : "") +
            `, ${scan.problems} problems${more}`,
        };
      } finally {
        progress.stop();
      }
    },
  };
}

function swiftScanner(flags: ScanFlags, url: string): Scanner {
  if (!/^https?:\/\//.test(url)) throw validation(`--swift ${url} is not an http(s) URL`);
  if (!flags.accounts) throw validation("--swift needs --accounts FILE (one account per line, like AUTH_test)");
  const accounts = parseAccountList(readText(flags.accounts, "--accounts"));
  if (accounts.length === 0) throw validation(`--accounts ${flags.accounts} lists no account`);
  for (const account of accounts) {
    const problem = nameTextProblem(account);
    if (problem !== null) throw validation(`--accounts ${flags.accounts}: ${JSON.stringify(account)} ${problem}`);
  }
  const auth = flags.swiftTokenFile
    ? { token: readText(flags.swiftTokenFile, "--swift-token-file").trim() }
    : flags.swiftUser && flags.swiftKeyFile
      ? { user: flags.swiftUser, key: readText(flags.swiftKeyFile, "--swift-key-file").trim() }
      : null;
  if (auth === null) throw validation("--swift needs --swift-token-file, or --swift-user and --swift-key-file");
  return {
    target: `swift:${url}`,
    metrics: SWIFT_METRICS,
    run: async (signal) => {
      let token: string;
      try {
        token = await swiftToken(url, auth);
      } catch (error) {
        throw new AppError("UNAVAILABLE", (error as Error).message);
      }
      const levels: Levels = new Map();
      const unread: string[] = [];
      let missing = 0;
      for (const account of accounts) {
        if (signal.aborted) break;
        try {
          const space = await headSwiftAccount(url, token, account);
          if (space === null) {
            missing++;
            process.stderr.write(`${account}: Swift has no such account; counted as empty\n`);
          }
          levels.set(account, {
            "storage.bytes": space?.bytes ?? 0n,
            "storage.files": space?.objects ?? 0n,
            "storage.containers": space?.containers ?? 0n,
          });
        } catch (error) {
          unread.push(account);
          process.stderr.write(`${account}: ${(error as Error).message}; not sent\n`);
        }
      }
      return {
        levels,
        problems: unread.length,
        unread,
        summary: `${accounts.length} accounts asked, ${missing} not in Swift, ${unread.length} failed`,
      };
    },
  };
}

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    throw validation(`${flag} ${file}: ${(error as Error).message}`);
  }
}

/** "90s", "15m", "1h", "1d" (or a bare number of seconds) → milliseconds. */
export function parseInterval(text: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m?.[2] ?? "s") as "s"];
  const ms = m ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isFinite(ms) || ms < 1_000)
    throw validation(`--every ${text} must be a duration like 90s, 15m, 1h or 1d`);
  return ms;
}

export function registerMeterScan(meter: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  sinkOptions(
    storeOptions(
      meter
        .command("scan")
        .description(
          "read how much each account stores (a directory tree or a Swift cluster) and send storage.* levels",
        ),
    ),
  )
    .option("--server <name>", "the server the levels are for (default this host's name)")
    .option("--dir <path>", "scan a directory tree: each top-level directory is an account (or see --by)")
    .option("--by <what>", "with --dir: dir (top-level directories) or owner (file uid, through --owners)", "dir")
    .option("--owners <file>", "with --by owner: lines of UID ACCOUNT")
    .option("--unattributed <account>", "with --by owner: the account for uids --owners does not name", "unattributed")
    .option("--swift <url>", "HEAD each account of this Swift proxy (e.g. http://127.0.0.1:8080) instead")
    .option("--accounts <file>", "with --swift: the accounts, one per line (AUTH_x)")
    .option("--swift-token-file <file>", "with --swift: a reseller admin's token")
    .option("--swift-user <user>", "with --swift: a reseller admin for URL/auth/v1.0 (TempAuth), e.g. admin:admin")
    .option("--swift-key-file <file>", "with --swift-user: the file holding its key")
    .option("--every <interval>", "scan again at this interval (90s, 15m, 1h, 1d) until SIGINT or SIGTERM")
    .action(run(meterScanCommand));
}
