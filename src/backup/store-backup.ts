// The port for copying a store while it serves: the files a copy is made of, in the order they must be taken, and
// a consistent copy of each. A SQLite store has two (the event log and the derived database); PostgreSQL has pg_dump.

export interface BackupFile {
  /** The file's name in the store's directory and in the copy. */
  readonly name: string;
  /** The event log (with tokens and petnames), or the database derived from it. */
  readonly part: "log" | "derived";
}

export interface StoreBackup {
  /**
   * The files of a copy, in the order to take them: a later file may be newer than an earlier one, never older,
   * so the derived database comes first (a derived database behind its log is brought up to date at start).
   */
  files(): readonly BackupFile[];
  /** Writes a consistent copy of one of files() to `to`, a new file. */
  copy(name: string, to: string): Promise<void>;
  /** Where a running server puts a copy before sending it: beside the store, on the same file system. */
  readonly scratchDir: string;
}
