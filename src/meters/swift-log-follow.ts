// --follow: reads a live Swift log as `tail -F` does. When the file at the path is replaced (rotated), the old one is
// read to its end first; when it shrinks (truncated, copytruncate), it is read again from its start, as a new log.
// What has been counted is sent every flush interval, and on SIGINT or SIGTERM before exiting; the positions file
// keeps where each log was, so that a restart goes on from there.

import fs from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import type { SendEvents } from "./send-events.js";
import { SwiftLogLineParser } from "./swift-log-line.js";
import type { SwiftLogPositions } from "./swift-log-positions.js";
import { READ_CHUNK, type SwiftLogCounts, SwiftLogStream } from "./swift-log-stream.js";

/** Waits `ms`, or less when the signal aborts first. */
const sleep = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

export interface FollowOptions {
  readonly server: string;
  readonly unattributed: string;
  readonly logNames?: readonly string[];
  readonly positions: SwiftLogPositions;
  readonly send: SendEvents;
  readonly counts: SwiftLogCounts;
  readonly onBadLine: (name: string, line: number, reason: string) => void;
  readonly onRejected: (reason: string) => void;
  readonly onRead?: (bytes: number) => void;
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
  let missingSaid = false;
  while (!signal.aborted) {
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      if (!missingSaid) options.onNote(`${file}: not there (yet); waiting for it`);
      missingSaid = true;
      await sleep(poll, signal);
      continue;
    }
    missingSaid = false;
    options.onNote(`following ${file}`);
    const next = await followFile(file, fd, options, signal, poll).finally(() => fs.closeSync(fd));
    if (next === "rotated") options.onNote(`${file}: rotated; read the old file to its end, following the new one`);
    if (next === "truncated") options.onNote(`${file}: truncated; reading it again from its start`);
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

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}
