// While `tally serve` runs, it notes its address in its data directory, so that the other commands find it and go
// through it (a SQLite store is opened by one process at a time) instead of being told to pass --url.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config/config.js";

export const SERVER_NOTE_FILE = "server.json";

export interface ServerNote {
  readonly url: string;
  readonly pid: number;
  /** A hash of the store the server serves: a command on another store (PostgreSQL elsewhere) must not go through it. */
  readonly store: string;
  readonly started: string;
}

type Location = Pick<Config, "store" | "data">;

/** Names the store without showing it (a PostgreSQL URL may hold a password). */
export function storeKey({ store, data }: Location): string {
  const where = store?.startsWith("postgres")
    ? store
    : `sqlite:${path.resolve(store ? store.slice("sqlite:".length) : path.join(data, "tally.sqlite"))}`;
  return createHash("sha256").update(where).digest("hex").slice(0, 32);
}

/** Writes the note atomically (a reader sees the old note or the new one, never half of one). */
export function writeServerNote(config: Location, url: string): string {
  const file = path.join(config.data, SERVER_NOTE_FILE);
  const note: ServerNote = { url, pid: process.pid, store: storeKey(config), started: new Date().toISOString() };
  const temp = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(config.data, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(temp, "w", 0o600);
  try {
    fs.writeSync(fd, `${JSON.stringify(note)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
  return file;
}

/** Removes the note if it is still this process's (another server may have started on a shared PostgreSQL store). */
export function removeServerNote(config: Location): void {
  const file = path.join(config.data, SERVER_NOTE_FILE);
  try {
    if (readNote(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  } catch {
    // A note that cannot be removed names this pid, which is gone once the server has stopped: readers skip it.
  }
}

/**
 * The running server that holds this store, or null: no note, a note for another store, or one a process left
 * behind when it was killed (its pid is gone).
 */
export function findRunningServer(config: Location): ServerNote | null {
  const note = readNote(path.join(config.data, SERVER_NOTE_FILE));
  if (note === null || note.store !== storeKey(config) || note.pid === process.pid) return null;
  return isAlive(note.pid) ? note : null;
}

function readNote(file: string): ServerNote | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ServerNote>;
    if (typeof parsed.url !== "string" || typeof parsed.pid !== "number" || typeof parsed.store !== "string") {
      return null;
    }
    return parsed as ServerNote;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
