// --follow: reads a live Swift log as `tail -F` does. When the file at the path is replaced (rotated), the old one is
// read to its end first; when it shrinks (truncated, copytruncate), it is read again from its start, as a new log.
// The file followed at each path is noted with the positions: when it was rotated while the importer was stopped, or
// copied and truncated, its rotated copy (renamed, or gzipped) is found by its first bytes and read to its end first.
// What has been counted is sent every flush interval, and on SIGINT or SIGTERM before exiting; the positions file
// keeps where each log was, so that a restart goes on from there.

import fs from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import { AppError } from "../domain/errors.js";
import { importSwiftLog, type SwiftLogImportOptions } from "./swift-log-import.js";
import { SwiftLogLineParser } from "./swift-log-line.js";
import type { FollowedFile, SwiftLogPositions } from "./swift-log-positions.js";
import {
  findRotated,
  identityOf,
  isFollowedFile,
  newerRotations,
  rotatedNames,
  sha256OfFirstBytes,
} from "./swift-log-rotated.js";
import { READ_CHUNK, SwiftLogStream } from "./swift-log-stream.js";

/** Waits `ms`, or less when the signal aborts first. */
const sleep = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

/** What an import of the same log takes, and how often to send and look again. */
export interface FollowOptions extends Omit<SwiftLogImportOptions, "blockBytes" | "ended"> {
  /** Rotation, truncation, a file that is missing: said once each, as they happen. */
  readonly onNote: (note: string) => void;
  readonly onFlushed?: () => void;
  /** How often what has been counted is sent. */
  readonly flushMs: number;
  /** How often the end of the file is looked at again. */
  readonly pollMs?: number;
  /** Stops following when aborted (the command aborts on SIGINT and SIGTERM); what was counted is sent first. */
  readonly signal?: AbortSignal;
}

const CHUNK = READ_CHUNK;

/** Follows every path until stopped. */
export async function followSwiftLog(paths: readonly string[], options: FollowOptions): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  options.signal?.addEventListener("abort", stop);
  const own = !options.signal;
  if (own) {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }
  try {
    await Promise.all(paths.map((p) => followOne(p, options, controller.signal)));
  } finally {
    if (own) {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
    }
  }
}

async function followOne(file: string, options: FollowOptions, signal: AbortSignal): Promise<void> {
  const poll = options.pollMs ?? 250;
  // On start, and after a truncation, the log followed before may have gone from the path with lines still unread.
  let lookBack = true;
  let missingSaid = false;
  while (!signal.aborted) {
    const fd = openOrNull(file);
    let next: "rotated" | "truncated" | "stopped";
    try {
      const followed = options.positions.followed(file);
      const same = followed !== null && fd !== null && isFollowedFile(fd, followed);
      if (lookBack && followed !== null && !same) await readRotatedAway(file, followed, options);
      lookBack = false;
      if (fd === null) {
        if (!missingSaid) options.onNote(`${file}: not there (yet); waiting for it`);
        missingSaid = true;
        await sleep(poll, signal);
        continue;
      }
      missingSaid = false;
      // Noted before anything of it is read, so that a restart after it is rotated away can find it.
      if (!same) options.positions.follow(file, { identity: identityOf(fd), log: null });
      options.onNote(`following ${file}`);
      next = await followFile(file, fd, options, signal, poll);
    } finally {
      if (fd !== null) fs.closeSync(fd);
    }
    if (next === "rotated") options.onNote(`${file}: rotated; read the old file to its end, following the new one`);
    if (next === "truncated") {
      options.onNote(`${file}: truncated; reading it again from its start`);
      lookBack = true;
    }
  }
}

/**
 * The log followed at `file` before is not the file there now: it was rotated while the importer was stopped, or
 * copied and truncated. Reads the rest of it, from where it had been imported to, and the rotations made after it
 * while stopped; or says what is lost.
 */
async function readRotatedAway(file: string, followed: FollowedFile, options: FollowOptions): Promise<void> {
  const found = await findRotated(file, followed);
  const log = followed.log;
  const imported = () => (log ? options.positions.get(log.stream) : { done: 0, lines: 0 });
  // Said once reading has stopped: what was imported before it failed counts.
  const lost = () => {
    const { done, lines } = imported();
    return log
      ? `what was written to it after byte ${done} (line ${lines}) is not counted`
      : "the requests written to it are not counted";
  };
  const what = log ? `the log followed there before (${log.stream})` : "the file followed there before";
  if (found === null) {
    options.onNote(`warning: ${file}: ${what} is neither there nor among ${rotatedNames(file)}; ${lost()}`);
    return;
  }
  options.onNote(`${file}: ${found} is ${what}; reading it from byte ${imported().done}`);
  await importRotated(file, found, options, lost);
  for (const newer of newerRotations(file, found)) {
    options.onNote(`${file}: ${newer} was rotated after it while the importer was stopped; reading it`);
    await importRotated(file, newer, options, () => "what was not imported of it before is not counted");
  }
  options.onFlushed?.();
}

/** Imports a rotated log to its end; one that cannot be read is said with what is lost, and the import goes on. */
async function importRotated(file: string, rotated: string, options: FollowOptions, lost: () => string) {
  try {
    await importSwiftLog(rotated, {
      server: options.server,
      unattributed: options.unattributed,
      ...(options.logNames ? { logNames: options.logNames } : {}),
      positions: options.positions,
      send: options.send,
      counts: options.counts,
      onBadLine: options.onBadLine,
      onRejected: options.onRejected,
      ...(options.onRead ? { onRead: options.onRead } : {}),
      ended: true,
    });
  } catch (error) {
    // Only the rotated log being unreadable is passed over; a failing sink stops the import as it does elsewhere.
    if (!(error instanceof AppError && error.context.file === rotated)) throw error;
    options.onNote(`warning: ${file}: ${error.message}; ${lost()}`);
  }
}

/** Reads one open file until it is rotated away, truncated, or following stops. */
async function followFile(
  file: string,
  fd: number,
  options: FollowOptions,
  signal: AbortSignal,
  poll: number,
): Promise<"rotated" | "truncated" | "stopped"> {
  const stream = new SwiftLogStream({
    server: options.server,
    unattributed: options.unattributed,
    positions: options.positions,
    send: options.send,
    parser: new SwiftLogLineParser(options.logNames ? { logNames: options.logNames } : {}),
    counts: options.counts,
    onBadLine: (line, reason) => options.onBadLine(file, line, reason),
    onRejected: options.onRejected,
  });
  const identity = fs.fstatSync(fd);
  let headNoted = false;
  const buffer = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  let lastFlush = Date.now();
  const readAll = async (): Promise<void> => {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, CHUNK, pos);
      if (n === 0) return;
      pos += n;
      options.onRead?.(n);
      await stream.feed(Buffer.from(buffer.subarray(0, n)));
      if (!headNoted && stream.headBytes !== null) {
        noteHead(file, fd, stream, options.positions);
        headNoted = true;
      }
      if (Date.now() - lastFlush >= options.flushMs) await flush();
    }
  };
  const flush = async (): Promise<void> => {
    await stream.flush();
    lastFlush = Date.now();
    options.onFlushed?.();
  };
  for (;;) {
    await readAll();
    if (signal.aborted) {
      await flush();
      return "stopped";
    }
    if (Date.now() - lastFlush >= options.flushMs) await flush();
    const now = statOrNull(file);
    if (now === null || now.ino !== identity.ino || now.dev !== identity.dev) {
      // Rotated: the writer may still finish a line or two in the old file before it opens the new one.
      await readAll();
      await sleep(poll, new AbortController().signal);
      await readAll();
      await stream.end(true);
      options.onFlushed?.();
      return "rotated";
    }
    if (fs.fstatSync(fd).size < pos) {
      await stream.end(false);
      options.onFlushed?.();
      return "truncated";
    }
    await sleep(poll, signal);
  }
}

/** The log's first access line has been read: its first bytes are what finds it again once rotated away. */
function noteHead(file: string, fd: number, stream: SwiftLogStream, positions: SwiftLogPositions): void {
  const headBytes = stream.headBytes as number;
  const headSha256 = sha256OfFirstBytes(fd, headBytes);
  if (headSha256 === null || stream.fingerprint === null) return;
  positions.follow(file, { identity: identityOf(fd), log: { stream: stream.fingerprint, headBytes, headSha256 } });
}

function openOrNull(file: string): number | null {
  try {
    return fs.openSync(file, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    return null;
  }
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}
