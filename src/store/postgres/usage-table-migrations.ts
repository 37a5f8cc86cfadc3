// The usage table's schema on PostgreSQL: totals per (metric, account), cells per (metric, account, server), the
// statement trigger on `series` that keeps them, and the log of overwritten values that snapshots read
// (usage-table.ts reads them).
//
// The trigger sees every row an UPDATE of series changed (transition tables), sums the differences of the
// levels' latest values, and applies them in key order, so concurrent batches on several nodes lock the view's
// rows in one global order and never deadlock. Per-server totals are split over a few shards (one per backend,
// modulo 8) so that nodes ingesting for the same server do not queue on one row.

import type { Migration } from "../../db/postgres-migrate.js";

/** The advisory lock (one key, for the whole database) under which a schema's migration creates extensions. */
const LOCK_EXTENSIONS = 0x7a11_0004;

export const USAGE_VIEW_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    sql: `
      CREATE TABLE usage_cells (
        metric text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        server text COLLATE "C" NOT NULL,
        value numeric NOT NULL,
        PRIMARY KEY (metric, account, server)
      );
      CREATE INDEX usage_cells_by_server ON usage_cells (metric, server, (-value), account);
      CREATE TABLE usage_totals (
        metric text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        total numeric NOT NULL,
        PRIMARY KEY (metric, account)
      );
      CREATE INDEX usage_totals_by_total ON usage_totals (metric, (-total), account);
      CREATE TABLE usage_server_totals (
        metric text COLLATE "C" NOT NULL,
        server text COLLATE "C" NOT NULL,
        shard smallint NOT NULL,
        total numeric NOT NULL,
        PRIMARY KEY (metric, server, shard)
      );

      CREATE FUNCTION usage_view_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO usage_cells AS u (metric, account, server, value)
          SELECT n.metric, n.account, n.server, sum(coalesce(n.last_value, 0) - coalesce(o.last_value, 0))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          GROUP BY n.metric, n.account, n.server ORDER BY n.metric, n.account, n.server
          ON CONFLICT (metric, account, server) DO UPDATE SET value = u.value + excluded.value;
        IF NOT FOUND THEN
          RETURN NULL;
        END IF;
        INSERT INTO usage_totals AS u (metric, account, total)
          SELECT n.metric, n.account, sum(coalesce(n.last_value, 0) - coalesce(o.last_value, 0))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          GROUP BY n.metric, n.account ORDER BY n.metric, n.account
          ON CONFLICT (metric, account) DO UPDATE SET total = u.total + excluded.total;
        INSERT INTO usage_server_totals AS u (metric, server, shard, total)
          SELECT n.metric, n.server, pg_backend_pid() % 8, sum(coalesce(n.last_value, 0) - coalesce(o.last_value, 0))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          GROUP BY n.metric, n.server ORDER BY n.metric, n.server
          ON CONFLICT (metric, server, shard) DO UPDATE SET total = u.total + excluded.total;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER usage_view_level AFTER UPDATE ON series
        REFERENCING OLD TABLE AS old_series NEW TABLE AS new_series
        FOR EACH STATEMENT EXECUTE FUNCTION usage_view_apply();

      -- A store that had levels before this migration: derive the view from their latest values once.
      INSERT INTO usage_cells (metric, account, server, value)
        SELECT metric, account, server, sum(last_value) FROM series
        WHERE kind = 'level' AND last_value IS NOT NULL GROUP BY metric, account, server;
      INSERT INTO usage_totals (metric, account, total)
        SELECT metric, account, sum(value) FROM usage_cells GROUP BY metric, account;
      INSERT INTO usage_server_totals (metric, server, shard, total)
        SELECT metric, server, 0, sum(value) FROM usage_cells GROUP BY metric, server;
    `,
  },
  {
    // Series inserted with a value, or deleted, move the view too: the adapter does neither today, but a rebuild
    // or repair that did would otherwise leave the view behind without a sound. One function applies every
    // change, so every path locks the view's rows in the same order.
    version: 102,
    sql: `
      CREATE FUNCTION usage_view_add(m text[], a text[], s text[], d numeric[]) RETURNS void LANGUAGE sql AS $fn$
        INSERT INTO usage_cells AS u (metric, account, server, value)
          SELECT x.metric, x.account, x.server, sum(x.delta) FROM unnest(m, a, s, d) AS x (metric, account, server, delta)
          GROUP BY 1, 2, 3 ORDER BY x.metric COLLATE "C", x.account COLLATE "C", x.server COLLATE "C"
          ON CONFLICT (metric, account, server) DO UPDATE SET value = u.value + excluded.value;
        INSERT INTO usage_totals AS u (metric, account, total)
          SELECT x.metric, x.account, sum(x.delta) FROM unnest(m, a, d) AS x (metric, account, delta)
          GROUP BY 1, 2 ORDER BY x.metric COLLATE "C", x.account COLLATE "C"
          ON CONFLICT (metric, account) DO UPDATE SET total = u.total + excluded.total;
        INSERT INTO usage_server_totals AS u (metric, server, shard, total)
          SELECT x.metric, x.server, pg_backend_pid() % 8, sum(x.delta) FROM unnest(m, s, d) AS x (metric, server, delta)
          GROUP BY 1, 2 ORDER BY x.metric COLLATE "C", x.server COLLATE "C"
          ON CONFLICT (metric, server, shard) DO UPDATE SET total = u.total + excluded.total;
      $fn$;

      CREATE OR REPLACE FUNCTION usage_view_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          PERFORM usage_view_add(array_agg(n.metric), array_agg(n.account), array_agg(n.server),
                                 array_agg(coalesce(n.last_value, 0) - coalesce(o.last_value, 0)))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          HAVING count(*) > 0;
        ELSIF TG_OP = 'INSERT' THEN
          PERFORM usage_view_add(array_agg(n.metric), array_agg(n.account), array_agg(n.server), array_agg(n.last_value))
          FROM new_series n WHERE n.kind = 'level' AND n.last_value IS NOT NULL
          HAVING count(*) > 0;
        ELSE
          PERFORM usage_view_add(array_agg(o.metric), array_agg(o.account), array_agg(o.server), array_agg(-o.last_value))
          FROM old_series o WHERE o.kind = 'level' AND o.last_value IS NOT NULL
          HAVING count(*) > 0;
        END IF;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER usage_view_level_insert AFTER INSERT ON series
        REFERENCING NEW TABLE AS new_series
        FOR EACH STATEMENT EXECUTE FUNCTION usage_view_apply();
      CREATE TRIGGER usage_view_level_delete AFTER DELETE ON series
        REFERENCING OLD TABLE AS old_series
        FOR EACH STATEMENT EXECUTE FUNCTION usage_view_apply();
    `,
  },
  {
    // Snapshots (usage-snapshots.ts): when each account's row last moved, and a log of the values writes overwrote.
    // Each upsert returns the row as written, under its lock: its version counts its writes in lock order (1: the
    // write made it), and the value it overwrote is the new one less the change.
    version: 103,
    sql: `
      -- Rows written before now were written by transactions that finished before this migration could lock the
      -- tables: every snapshot taken from now on sees them.
      LOCK TABLE usage_cells, usage_totals, usage_server_totals IN ACCESS EXCLUSIVE MODE;
      ALTER TABLE usage_totals ADD COLUMN changed xid8 NOT NULL DEFAULT '1';
      ALTER TABLE usage_totals ALTER COLUMN changed SET DEFAULT pg_current_xact_id();
      ALTER TABLE usage_totals ADD COLUMN version bigint NOT NULL DEFAULT 1;
      ALTER TABLE usage_cells ADD COLUMN version bigint NOT NULL DEFAULT 1;
      ALTER TABLE usage_server_totals ADD COLUMN version bigint NOT NULL DEFAULT 1;
      -- The value each write overwrote (null: the write made the row), by the writing transaction.
      CREATE TABLE usage_totals_log (
        xact xid8 NOT NULL,
        metric text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        total numeric
      );
      CREATE INDEX usage_totals_log_by_xact ON usage_totals_log (xact);
      CREATE TABLE usage_cells_log (
        xact xid8 NOT NULL,
        metric text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        server text COLLATE "C" NOT NULL,
        version bigint NOT NULL,
        value numeric
      );
      CREATE INDEX usage_cells_log_by_xact ON usage_cells_log (xact);
      CREATE TABLE usage_server_totals_log (
        xact xid8 NOT NULL,
        metric text COLLATE "C" NOT NULL,
        server text COLLATE "C" NOT NULL,
        shard smallint NOT NULL,
        version bigint NOT NULL,
        total numeric
      );
      CREATE INDEX usage_server_totals_log_by_xact ON usage_server_totals_log (xact);
      -- The oldest transaction running at a time (a snapshot's xmin), about once a minute.
      CREATE TABLE usage_log_marks (taken timestamptz NOT NULL, oldest xid8 NOT NULL);
      -- Copies by transactions before cut are gone; null until a node has opened the store since this migration.
      CREATE TABLE usage_log_horizon (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        cut xid8
      );
      INSERT INTO usage_log_horizon (cut) VALUES (NULL);
      -- Snapshots too long to travel in a cursor.
      CREATE TABLE usage_snapshots (
        id bigserial PRIMARY KEY,
        snapshot pg_snapshot NOT NULL,
        taken_ms bigint NOT NULL
      );

      CREATE OR REPLACE FUNCTION usage_view_add(m text[], a text[], s text[], d numeric[]) RETURNS void LANGUAGE sql AS $fn$
        WITH x AS (
          SELECT x.metric COLLATE "C" AS metric, x.account COLLATE "C" AS account, x.server COLLATE "C" AS server,
                 sum(x.delta) AS delta
          FROM unnest(m, a, s, d) AS x (metric, account, server, delta) GROUP BY 1, 2, 3
        ), moved AS (
          INSERT INTO usage_cells AS u (metric, account, server, value)
            SELECT metric, account, server, delta FROM x ORDER BY metric, account, server
            ON CONFLICT (metric, account, server) DO UPDATE SET value = u.value + excluded.value, version = u.version + 1
            RETURNING u.metric, u.account, u.server, u.version, u.value
        )
        INSERT INTO usage_cells_log (xact, metric, account, server, version, value)
          SELECT pg_current_xact_id(), u.metric, u.account, u.server, u.version,
                 CASE WHEN u.version > 1 THEN u.value - x.delta END
          FROM moved u JOIN x ON x.metric = u.metric AND x.account = u.account AND x.server = u.server;

        WITH x AS (
          SELECT x.metric COLLATE "C" AS metric, x.account COLLATE "C" AS account, sum(x.delta) AS delta
          FROM unnest(m, a, d) AS x (metric, account, delta) GROUP BY 1, 2
        ), moved AS (
          INSERT INTO usage_totals AS u (metric, account, total)
            SELECT metric, account, delta FROM x ORDER BY metric, account
            ON CONFLICT (metric, account) DO UPDATE
            SET total = u.total + excluded.total, version = u.version + 1, changed = pg_current_xact_id()
            RETURNING u.metric, u.account, u.version, u.total
        )
        INSERT INTO usage_totals_log (xact, metric, account, version, total)
          SELECT pg_current_xact_id(), u.metric, u.account, u.version, CASE WHEN u.version > 1 THEN u.total - x.delta END
          FROM moved u JOIN x ON x.metric = u.metric AND x.account = u.account;

        WITH x AS (
          SELECT x.metric COLLATE "C" AS metric, x.server COLLATE "C" AS server, sum(x.delta) AS delta
          FROM unnest(m, s, d) AS x (metric, server, delta) GROUP BY 1, 2
        ), moved AS (
          INSERT INTO usage_server_totals AS u (metric, server, shard, total)
            SELECT metric, server, pg_backend_pid() % 8, delta FROM x ORDER BY metric, server
            ON CONFLICT (metric, server, shard) DO UPDATE SET total = u.total + excluded.total, version = u.version + 1
            RETURNING u.metric, u.server, u.shard, u.version, u.total
        )
        INSERT INTO usage_server_totals_log (xact, metric, server, shard, version, total)
          SELECT pg_current_xact_id(), u.metric, u.server, u.shard, u.version,
                 CASE WHEN u.version > 1 THEN u.total - x.delta END
          FROM moved u JOIN x ON x.metric = u.metric AND x.server = u.server;
      $fn$;
    `,
  },
  {
    // The search finds accounts by substring through trigram indexes (pg_trgm, a trusted extension): on the ids in
    // series, written once per series, and on petnames, not on usage_totals, which every level change rewrites.
    // Schemas migrate under locks of their own, so the extension is created under one lock for the database, in
    // public, where dropping a schema cannot take it and the other schemas' indexes with it.
    version: 104,
    sql: `
      DO $do$
      DECLARE
        ns text;
      BEGIN
        PERFORM pg_advisory_xact_lock(${LOCK_EXTENSIONS});
        BEGIN
          CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
        EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
          RAISE EXCEPTION 'the usage search needs the extension pg_trgm, which % cannot create here (%): '
            'have the database owner or a superuser run CREATE EXTENSION pg_trgm SCHEMA public', current_user, SQLERRM;
        END;
        SELECT extnamespace::regnamespace::text INTO ns FROM pg_extension WHERE extname = 'pg_trgm';
        EXECUTE format('CREATE INDEX series_account_trigrams ON series USING gin (account %s.gin_trgm_ops)', ns);
        EXECUTE format('CREATE INDEX petnames_name_trigrams ON petnames USING gin (name %s.gin_trgm_ops)', ns);
      END
      $do$;
    `,
  },
  {
    // The trigram index on series made equality on accounts (which pg_trgm also serves) use it: the planner took it
    // for a page's `account = ANY(…)`, and every account id shares the trigrams of its prefix, so each lookup read
    // the posting lists of every series (0.8 s for 100 accounts of 1,500). On an expression that a search writes
    // and nothing else does, equality keeps the btree.
    version: 105,
    sql: `
      DO $do$
      DECLARE
        ns text;
      BEGIN
        SELECT extnamespace::regnamespace::text INTO ns FROM pg_extension WHERE extname = 'pg_trgm';
        DROP INDEX series_account_trigrams;
        EXECUTE format('CREATE INDEX series_account_trigrams ON series USING gin ((account || %L) %s.gin_trgm_ops)', '', ns);
      END
      $do$;
    `,
  },
];
