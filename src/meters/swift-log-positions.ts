// How far each Swift log has been imported, kept on disk so that a restart, a second import of the same file or a
// file imported as it grows neither skips nor repeats a line. A range of lines is written down as pending before its
// events are sent and as done after they are committed: after a crash in between, the same range is sent again with
// the same ids, and what had been stored counts as duplicates.

import fs from "node:fs";
import path from "node:path";
import { AppError } from "../domain/errors.js";

export interface StreamPosition {
  /** Every line that starts before this byte offset has been imported. */
  readonly done: number;
  /** Lines before `done`, for line numbers in reports. */
  readonly lines: number;
  /** A range whose events were being sent when the importer stopped: it is sent again exactly. */
  readonly pending: { readonly start: number; readonly end: number } | null;
}

/** The file a follower was reading at a path, so that it can be found again after it has been rotated away. */
export interface FollowedFile {
  /** `dev:ino` of the file when it was opened: a renamed file keeps it. */
  readonly identity: string;
  /**
   * Once its first access line has been read: the log's stream, and the length and SHA-256 of its bytes up to the end
   * of that line, which name the log and which a compressed or copied rotation of it has too.
   */
  readonly log: { readonly stream: string; readonly headBytes: number; readonly headSha256: string } | null;
}

interface PositionsFile {
  version: 1;
  streams: Record<string, StreamPosition & { updated: string }>;
  /** By the followed path, made absolute. */
  following?: Record<string, FollowedFile & { updated: string }>;
}

export class SwiftLogPositions {
  private constructor(
    readonly file: string,
    private readonly lock: string,
    private state: PositionsFile,
  ) {}

  /** Opens (or creates) the positions file and holds its lock: two importers at once would lose each other's writes. */
  static open(file: string): SwiftLogPositions {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const lock = `${file}.lock`;
    takeLock(lock);
    try {
      return new SwiftLogPositions(file, lock, readState(file));
    } catch (error) {
      fs.rmSync(lock, { force: true });
      throw error;
    }
  }

  get(stream: string): StreamPosition {
    return this.state.streams[stream] ?? { done: 0, lines: 0, pending: null };
  }

  /** Notes a range as being sent; durable when it returns. */
  begin(stream: string, start: number, end: number): void {
    const now = this.get(stream);
    this.state.streams[stream] = { ...now, pending: { start, end }, updated: new Date().toISOString() };
    this.write();
  }

  /** Notes that every line before `end` is imported; durable when it returns. */
  commit(stream: string, end: number, lines: number): void {
    this.state.streams[stream] = { done: end, lines, pending: null, updated: new Date().toISOString() };
    this.write();
  }

  /** The file last followed at `file`, or null when none was. */
  followed(file: string): FollowedFile | null {
    const entry = this.state.following?.[path.resolve(file)];
    return entry ? { identity: entry.identity, log: entry.log } : null;
  }

  /** Notes the file now followed at `file`; durable when it returns. */
  follow(file: string, followed: FollowedFile): void {
    this.state.following ??= {};
    this.state.following[path.resolve(file)] = { ...followed, updated: new Date().toISOString() };
    this.write();
  }

  close(): void {
    fs.rmSync(this.lock, { force: true });
  }

  private write(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(this.state)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    // The rename is durable only once the directory is.
    const dir = fs.openSync(path.dirname(this.file), "r");
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  }
}

function readState(file: string): PositionsFile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, streams: {} };
    throw new AppError("UNAVAILABLE", `cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: Partial<PositionsFile>;
  try {
    parsed = JSON.parse(text) as Partial<PositionsFile>;
  } catch {
    throw new AppError("VALIDATION", `${file} is not the JSON Tally writes there; move it aside to start over`);
  }
  if (
    parsed.version !== 1 ||
    typeof parsed.streams !== "object" ||
    parsed.streams === null ||
    (parsed.following !== undefined && !isFollowing(parsed.following))
  ) {
    throw new AppError("VALIDATION", `${file} is not a positions file of this Tally; move it aside to start over`);
  }
  return { version: 1, streams: parsed.streams, ...(parsed.following ? { following: parsed.following } : {}) };
}

function isFollowing(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  return Object.values(value).every((entry: Partial<FollowedFile> | null) => {
    if (typeof entry !== "object" || entry === null || typeof entry.identity !== "string") return false;
    const log = entry.log;
    return (
      log === null ||
      (typeof log === "object" &&
        typeof log.stream === "string" &&
        Number.isInteger(log.headBytes) &&
        log.headBytes > 0 &&
        typeof log.headSha256 === "string")
    );
  });
}

/** Takes the lock file, or takes it over when the process that held it is gone. */
function takeLock(lock: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lock, "wx", 0o600);
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(fs.readFileSync(lock, "utf8").trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new AppError("CONFLICT", `another import (process ${holder}) is using ${lock.slice(0, -5)}`);
      }
      fs.rmSync(lock, { force: true });
    }
  }
  throw new AppError("CONFLICT", `cannot take the lock ${lock}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
