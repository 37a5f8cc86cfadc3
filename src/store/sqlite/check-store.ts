// A check of a SQLite store's two files while no Tally process holds it (tally doctor): each file's integrity, and
// that the derived database covers no event the log does not hold. It never writes the event log; asked to repair,
// it moves a damaged derived database aside and derives a new one from the log.

import fs from "node:fs";
import Database from "better-sqlite3";
import { AppError, messageOf } from "../../domain/errors.js";
import { moveAside } from "./derived-damage.js";
import { openSqliteStore } from "./sqlite-store.js";
import { derivedFileProblem, derivedPath } from "./store-files.js";

export interface FileCheck {
  readonly file: string;
  /** What is wrong with it, or null when it checks out. */
  readonly problem: string | null;
}

export interface StoreCheck {
  /** The event log, and how many events it holds (null when it cannot be read). */
  readonly log: FileCheck & { readonly events: number | null };
  readonly derived: FileCheck & {
    /** False when there is none: the next start derives it. */
    readonly exists: boolean;
    /** How many events it covers (null when it cannot be read). */
    readonly covers: number | null;
    /** Where a damaged one was moved, when repaired: a new one is derived in its place. */
    readonly movedTo: string | null;
  };
}

/** Problems integrity_check reports, at most: the first is shown, the rest counted. */
const MAX_PROBLEMS = 100;

/**
 * Checks the store whose event log is `file`, holding the log's lock (as `tally serve` does) throughout, so that no
 * Tally starts on it meanwhile; a store that a running Tally holds is refused, untouched. With `repair`, a damaged
 * derived database beside a sound log is moved aside under that lock, and a new one derived once it is let go.
 */
export async function checkSqliteStore(file: string, options: { repair?: boolean } = {}): Promise<StoreCheck> {
  if (!fs.existsSync(file)) throw new AppError("NOT_FOUND", `there is no Tally store at ${file}`, { path: file });
  const log = new Database(file, { fileMustExist: true, timeout: 250 });
  let check: StoreCheck;
  try {
    log.pragma("locking_mode = EXCLUSIVE");
    try {
      log.pragma("schema_version");
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_BUSY") {
        throw new AppError(
          "UNAVAILABLE",
          `${file} is in use by a running Tally (tally serve); stop it first, tally doctor checks a store nobody holds`,
          { path: file },
        );
      }
      // Any other failure is the file's own: the integrity check reports it.
    }
    const problem = integrityProblem(log);
    const notLog = problem === null ? derivedFileProblem(log, file) : null;
    if (notLog !== null) throw new AppError("VALIDATION", notLog, { path: file });
    const events = problem === null ? eventCount(log) : null;
    const derived = checkDerived(derivedPath(file), events);
    // Only from a sound event log: a damaged one could not derive it again.
    const repair = options.repair === true && problem === null && derived.problem !== null;
    const movedTo = repair ? moveAside(derived.file) : null;
    check = { log: { file, problem, events }, derived: { ...derived, movedTo } };
  } finally {
    log.close();
  }
  if (check.derived.movedTo !== null) {
    // Opening derives the new database; closing waits until it covers every event.
    const store = await openSqliteStore({ path: file });
    await store.close();
  }
  return check;
}

function checkDerived(file: string, logEvents: number | null): Omit<StoreCheck["derived"], "movedTo"> {
  if (!fs.existsSync(file)) return { file, problem: null, exists: false, covers: null };
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { fileMustExist: true });
    const problem = integrityProblem(db);
    if (problem !== null) return { file, problem, exists: true, covers: null };
    const covers = derivedCursor(db) - 1;
    if (logEvents !== null && covers > logEvents) {
      return {
        file,
        problem: `it covers ${covers} events, and the event log holds ${logEvents}`,
        exists: true,
        covers,
      };
    }
    return { file, problem: null, exists: true, covers };
  } catch (error) {
    return { file, problem: messageOf(error), exists: true, covers: null };
  } finally {
    db?.close();
  }
}

/** The first event the derived database does not cover, by the later of its two cursors. */
function derivedCursor(db: Database.Database): number {
  if (db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'meta'").get() === undefined) return 1;
  const cursor = db.prepare("SELECT value FROM meta WHERE key = ?").pluck();
  return Math.max(Number(cursor.get("rollup_seq") ?? 1), Number(cursor.get("usage_seq") ?? 1));
}

/** The first problem integrity_check finds (and how many more), or null. A file that is no database throws here. */
function integrityProblem(db: Database.Database): string | null {
  let rows: { integrity_check: string }[];
  try {
    rows = db.pragma(`integrity_check(${MAX_PROBLEMS})`) as { integrity_check: string }[];
  } catch (error) {
    return messageOf(error);
  }
  const lines = rows
    .flatMap((row) => row.integrity_check.split("\n"))
    .filter((line) => line !== "" && !line.startsWith("*** in database"));
  if (lines.length === 1 && lines[0] === "ok") return null;
  const more = lines.length > 1 ? ` (and ${lines.length - 1}${lines.length >= MAX_PROBLEMS ? "+" : ""} more)` : "";
  return `${lines[0]}${more}`;
}

function eventCount(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'event_blocks'").get();
  if (table === undefined) return 0;
  return Number(db.prepare("SELECT coalesce(max(first_seq + count), 1) - 1 FROM event_blocks").pluck().get());
}
