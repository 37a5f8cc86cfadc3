// Versioned schema migrations for the PostgreSQL store, applied on open under an advisory lock so that several
// Tally nodes starting at once apply each migration exactly once.

import type pg from "pg";
import { PETNAME_MIGRATIONS } from "../../petnames/postgres-petname-store.js";
import { USAGE_VIEW_MIGRATIONS } from "./usage-table.js";

export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/**
 * Text columns that take part in ordering or uniqueness are COLLATE "C" so that PostgreSQL orders them by
 * UTF-8 bytes, as `compareReadings` and `sortRollups` do, whatever the database's default collation.
 * Events and rollups carry no foreign keys to series: series rows are never deleted, and a key check would add
 * a lookup and a row lock to every inserted event.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE metrics (
        name text COLLATE "C" PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('level', 'counter', 'state'))
      );

      CREATE TABLE series (
        id bigserial PRIMARY KEY,
        server text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        metric text COLLATE "C" NOT NULL REFERENCES metrics (name),
        instance text COLLATE "C" NOT NULL,
        kind text NOT NULL CHECK (kind IN ('level', 'counter', 'state')),
        -- The latest reading of a level or state, by (time, id); null for counters.
        last_time bigint,
        last_id text COLLATE "C",
        last_value numeric,
        UNIQUE (server, account, metric, instance)
      );
      CREATE INDEX series_account ON series (account, metric);
      CREATE INDEX series_metric ON series (metric);

      CREATE TABLE events (
        server text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        series_id bigint NOT NULL,
        time bigint NOT NULL,
        value numeric NOT NULL,
        dims jsonb,
        PRIMARY KEY (server, id)
      );
      CREATE INDEX events_series_time ON events (series_id, time, id);

      CREATE TABLE rollups (
        series_id bigint NOT NULL,
        hour bigint NOT NULL,
        count integer NOT NULL,
        sum numeric,
        last numeric,
        max numeric,
        integral numeric,
        PRIMARY KEY (series_id, hour)
      );

      CREATE TABLE servers (
        server text COLLATE "C" PRIMARY KEY,
        last_heard bigint NOT NULL,
        last_event_time bigint NOT NULL,
        events bigint NOT NULL
      );
    `,
  },
  // The usage table and petnames (issue 4), numbered from 100 to stay clear of the store's own.
  ...USAGE_VIEW_MIGRATIONS,
  ...PETNAME_MIGRATIONS,
];

/**
 * First keys of the advisory locks Tally takes; the second key is `hashtext` of the schema name, so that nodes
 * sharing a schema wait for each other and separate schemas do not. (0x7a11_0003, the usage log's, is in
 * usage-snapshots.ts, which this module's imports reach.)
 */
export const LOCK_MIGRATIONS = 0x7a11_0001;
export const LOCK_ROLLUPS = 0x7a11_0002;

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
  migrations: readonly Migration[] = MIGRATIONS,
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
