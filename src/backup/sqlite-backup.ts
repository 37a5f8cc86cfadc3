// A running SQLite store copied file by file: the derived database with VACUUM INTO (one read transaction, so one
// consistent state even while its worker writes), then the event log with SQLite's online backup API on the
// store's own connection, which carries the writes made meanwhile into the copy.

import path from "node:path";
import type Database from "better-sqlite3";
import { AppError, messageOf } from "../domain/errors.js";
import type { BackupFile, StoreBackup } from "./store-backup.js";

export class SqliteStoreBackup implements StoreBackup {
  readonly scratchDir: string;
  private readonly list: readonly BackupFile[];

  constructor(
    private readonly db: Database.Database,
    /** The event log's file and the derived database's. */
    files: { readonly log: string; readonly derived: string },
  ) {
    this.scratchDir = path.dirname(files.log);
    this.list = [
      { name: path.basename(files.derived), part: "derived" },
      { name: path.basename(files.log), part: "log" },
    ];
  }

  files(): readonly BackupFile[] {
    return this.list;
  }

  async copy(name: string, to: string): Promise<void> {
    const file = this.list.find((f) => f.name === name);
    if (file === undefined)
      throw new AppError(
        "NOT_FOUND",
        `a backup has no file ${JSON.stringify(name)}; it has ${this.list.map((f) => f.name).join(", ")}`,
      );
    try {
      if (file.part === "derived") this.db.prepare("VACUUM derived INTO ?").run(to);
      else await this.db.backup(to);
    } catch (error) {
      throw new AppError("UNAVAILABLE", `could not copy ${name}: ${messageOf(error)}`);
    }
  }
}
