// Versioned schema changes on PostgreSQL, applied under an advisory lock so that several Tally nodes starting at
// once apply each exactly once: numbered migrations (the event store's, then the usage table's and petnames',
// from 100 up) and per-component versions (tokens).

import type pg from "pg";

/** One numbered step; numbers are unique across every list applied to a schema. */
export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/**
 * First key of the advisory lock migrations take; the second key is `hashtext` of the schema name, so that nodes
 * sharing a schema wait for each other and separate schemas do not. (The store's own locks are 0x7a11_0002,
 * 0x7a11_0003 and 0x7a11_0004.)
 */
export const LOCK_MIGRATIONS = 0x7a11_0001;

/** SQL for the second key of an advisory lock: the schema named by the parameter, else the current one. */
export const SCHEMA_LOCK_KEY = "hashtext(coalesce($2::text, current_schema()::text, ''))";

/** Schema names are restricted so they can go into a connection's start-up options without quoting. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Creates the schema if asked and applies the migrations not yet applied, in one transaction. Returns the
 * versions applied now.
 */
export async function migrate(
  client: pg.ClientBase,
  schema: string | undefined,
  migrations: readonly Migration[],
): Promise<number[]> {
  const applied: number[] = [];
  await client.query("BEGIN");
  try {
    await client.query(`SELECT pg_advisory_xact_lock($1, ${SCHEMA_LOCK_KEY})`, [LOCK_MIGRATIONS, schema ?? null]);
    if (schema !== undefined) {
      if (!SCHEMA_NAME.test(schema)) throw new Error(`schema name "${schema}" must match ${SCHEMA_NAME}`);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
    }
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const done = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const versions = new Set(done.rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (versions.has(m.version)) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [m.version]);
      applied.push(m.version);
    }
    await client.query("COMMIT");
    return applied;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/**
 * The migrations of another component that keeps tables beside the usage data (auth, petnames …), as the SQLite
 * store does: one version per component in schema_versions, applied in one transaction under the same lock.
 * Runs on a connection whose search_path is already the store's schema.
 */
export async function migrateComponent(
  client: pg.ClientBase,
  component: string,
  migrations: readonly string[],
): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(`SELECT pg_advisory_xact_lock($1, ${SCHEMA_LOCK_KEY})`, [LOCK_MIGRATIONS, null]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_versions (component text PRIMARY KEY, version integer NOT NULL)",
    );
    const row = await client.query<{ version: number }>("SELECT version FROM schema_versions WHERE component = $1", [
      component,
    ]);
    const current = row.rows[0]?.version ?? 0;
    if (current > migrations.length) {
      throw new Error(
        `the ${component} schema is at version ${current}, newer than this Tally knows (${migrations.length})`,
      );
    }
    for (let v = current; v < migrations.length; v++) await client.query(migrations[v] as string);
    await client.query(
      "INSERT INTO schema_versions (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version",
      [component, migrations.length],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
