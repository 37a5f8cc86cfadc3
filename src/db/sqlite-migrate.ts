// Versioned schema changes on SQLite: each component of a database (the event log, tokens, petnames …) keeps its
// own version in schema_versions and applies the steps it lacks in one transaction.

import type Database from "better-sqlite3";

/** A step: SQL, or a function for what SQL alone cannot do (repacking rows). */
export type Migration = string | ((db: Database.Database) => void);

/** Applies the component's migrations that the database has not seen yet, in one transaction. */
export function migrate(db: Database.Database, component: string, migrations: readonly Migration[]): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT");
  const row = db.prepare("SELECT version FROM schema_versions WHERE component = ?").get(component) as
    | { version: number | bigint }
    | undefined;
  const current = Number(row?.version ?? 0);
  if (current > migrations.length) {
    throw new Error(
      `the ${component} schema is at version ${current}, newer than this Tally knows (${migrations.length})`,
    );
  }
  db.transaction(() => {
    for (let v = current; v < migrations.length; v++) {
      const migration = migrations[v] as Migration;
      if (typeof migration === "string") db.exec(migration);
      else migration(db);
    }
    db.prepare(
      "INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version",
    ).run(component, migrations.length);
  })();
}
