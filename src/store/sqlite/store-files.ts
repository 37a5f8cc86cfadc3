// The two files of a SQLite store: its event log and, beside it, the database derived from it. One naming rule,
// read both ways.

import path from "node:path";
import type Database from "better-sqlite3";

const SUFFIX = "-derived";

/** A file's name without its extension, and the extension. */
function split(file: string): [string, string] {
  const ext = path.extname(file);
  return [file.slice(0, file.length - ext.length), ext];
}

/** The derived database beside a store's file: tally.sqlite → tally-derived.sqlite. */
export function derivedPath(file: string): string {
  const [stem, ext] = split(file);
  return `${stem}${SUFFIX}${ext}`;
}

/**
 * Why `file`, opened as `db`, is not an event log but a derived database (null when it is not one): opened as a
 * store, its tables would clash with the log's.
 */
export function derivedFileProblem(db: Database.Database, file: string): string | null {
  const versions = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'schema_versions'").get();
  if (versions === undefined) return null;
  if (db.prepare("SELECT 1 FROM schema_versions WHERE component = 'derived'").get() === undefined) return null;
  const [stem, ext] = split(file);
  const log = stem.endsWith(SUFFIX) ? ` (${stem.slice(0, -SUFFIX.length)}${ext})` : "";
  return `${file} is a derived database, which Tally derives from a store's event log, not a store: name the event log beside it${log}`;
}
