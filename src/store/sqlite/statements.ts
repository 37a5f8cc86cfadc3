// Reads' statements prepared once per connection: preparing costs more than a small read itself.

import type Database from "better-sqlite3";

const cache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** The statement of `sql` on `db` in raw mode (rows as arrays), prepared the first time it is asked for. */
export function prepared(db: Database.Database, sql: string): Database.Statement {
  let statements = cache.get(db);
  if (statements === undefined) {
    statements = new Map();
    cache.set(db, statements);
  }
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql).raw();
    statements.set(sql, statement);
  }
  return statement;
}
