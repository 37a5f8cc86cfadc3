// A damaged derived database: how it is recognised, and how it is moved aside so that a new one is derived from the
// event log in its place. Nothing here ever touches the event log.

import fs from "node:fs";

/** The derived database cannot be used as it is, for a reason SQLite has no code for (its cursor is ahead of the log). */
export class DerivedDamage extends Error {
  override readonly name = "DerivedDamage";
}

/** SQLite's errors for a file that is not a database or whose pages are malformed, and DerivedDamage. */
export function isDamage(error: unknown): boolean {
  if (error instanceof DerivedDamage) return true;
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}

/**
 * Renames a database file, with its -wal and -shm, to FILE.damaged-<UTC time> (and -wal, -shm beside it), and returns
 * the new name. The log goes first: left beside a new, empty database, it would be read as that database's.
 */
export function moveAside(file: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]|\.\d+/g, "");
  let target = `${file}.damaged-${stamp}`;
  for (let n = 2; fs.existsSync(target); n++) target = `${file}.damaged-${stamp}-${n}`;
  for (const suffix of ["-wal", "-shm", ""]) {
    try {
      fs.renameSync(`${file}${suffix}`, `${target}${suffix}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return target;
}
