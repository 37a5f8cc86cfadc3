// A backup directory: the store's files, each written under a temporary name and renamed once complete, and a
// manifest saying which file is which. Taken from a store opened here or through a running server; restored into
// a data directory, or served as it is (tally serve --data DIR).

import fs from "node:fs";
import path from "node:path";
import { AppError } from "../domain/errors.js";
import type { BackupFile } from "./store-backup.js";

export const MANIFEST = "tally-backup.json";

export interface Manifest {
  readonly created: string;
  /** In the order they were taken. */
  readonly files: readonly BackupFile[];
}

/** Makes DIR, which must not exist or be empty: a backup never mixes with other files, or overwrites one. */
export function prepareBackupDir(dir: string): void {
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0)
    throw new AppError("CONFLICT", `${dir} is not empty: give a new or empty directory for the backup`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Takes each file through `write(name, temporaryPath)`, in order, then writes the manifest last. */
export async function writeBackup(
  dir: string,
  files: readonly BackupFile[],
  write: (name: string, to: string) => Promise<void>,
): Promise<Manifest> {
  for (const file of files) {
    if (file.name !== path.basename(file.name) || file.name === MANIFEST)
      throw new AppError("INTERNAL", `a backup file may not be named ${JSON.stringify(file.name)}`);
    const part = path.join(dir, `${file.name}.part`);
    fs.rmSync(part, { force: true });
    await write(file.name, part);
    fs.renameSync(part, path.join(dir, file.name));
  }
  const manifest: Manifest = { created: new Date().toISOString(), files };
  fs.writeFileSync(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return manifest;
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, MANIFEST);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Manifest;
  } catch (error) {
    throw new AppError(
      "VALIDATION",
      `${dir} is not a complete Tally backup: cannot read ${MANIFEST} (${(error as Error).message})`,
    );
  }
  if (!Array.isArray(manifest.files) || !manifest.files.some((f) => f.part === "log"))
    throw new AppError("VALIDATION", `${file} names no event log`);
  for (const f of manifest.files)
    if (typeof f.name !== "string" || f.name !== path.basename(f.name) || !fs.existsSync(path.join(dir, f.name)))
      throw new AppError("VALIDATION", `${dir} is not a complete Tally backup: ${JSON.stringify(f.name)} is missing`);
  return manifest;
}

/**
 * Copies a backup to a SQLite store's place: `log` is the event log's path there, `derivedFile` the derived
 * database's. Nothing is overwritten; the event log is put in place last, so a restore cut short leaves no store.
 */
export function restoreBackup(dir: string, target: { readonly log: string; readonly derived: string }): Manifest {
  const manifest = readManifest(dir);
  for (const file of [target.log, target.derived, `${target.log}-wal`])
    if (fs.existsSync(file))
      throw new AppError("CONFLICT", `${file} exists: restore into a new data directory, or move it away first`);
  fs.mkdirSync(path.dirname(target.log), { recursive: true, mode: 0o700 });
  const ordered = [...manifest.files].sort((a, b) => (a.part === "log" ? 1 : 0) - (b.part === "log" ? 1 : 0));
  for (const f of ordered) {
    const to = f.part === "log" ? target.log : target.derived;
    fs.copyFileSync(path.join(dir, f.name), `${to}.part`, fs.constants.COPYFILE_EXCL);
    fs.renameSync(`${to}.part`, to);
  }
  return manifest;
}
