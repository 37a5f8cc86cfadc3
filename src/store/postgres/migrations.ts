// Versioned schema migrations for the PostgreSQL store, applied on open under an advisory lock so that several
// Tally nodes starting at once apply each migration exactly once.

import type { Migration } from "../../db/postgres-migrate.js";
import { HOUR_MS } from "../../domain/time.js";
import { EVENT_FEED_MIGRATIONS } from "./event-feed.js";
import { PETNAME_MIGRATIONS } from "./petname-tables.js";
import { INSERT_ALL_DAYS, ROLLUP_DAYS_TABLE } from "./rollup-days.js";
import { USAGE_VIEW_MIGRATIONS } from "./usage-table-migrations.js";

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
  {
    // Held rows are kept open after their hour's latest reading, as on SQLite, and the hours wholly between two
    // readings have no row: reads close and fill them (fillHeldGaps). Rows written before stay valid: every row
    // but a series' latest is closed, and the latest is open at the series' latest reading.
    version: 2,
    sql: `
      ALTER TABLE rollups ADD COLUMN last_time bigint;
      UPDATE rollups r SET last_time = s.last_time FROM series s
      WHERE s.id = r.series_id AND s.last_time IS NOT NULL AND r.hour = s.last_time - s.last_time % ${HOUR_MS};
    `,
  },
  {
    // A series is also keyed by its events' kept dims (rollup.ts, ROLLUP_DIMS). Series stored before have none:
    // \`tally rebuild\` moves their events with kept dims to series of their own (rekeyByDims).
    version: 3,
    sql: `
      ALTER TABLE series ADD COLUMN dims text COLLATE "C" NOT NULL DEFAULT '';
      ALTER TABLE series DROP CONSTRAINT series_server_account_metric_instance_key;
      ALTER TABLE series ADD CONSTRAINT series_key UNIQUE (server, account, metric, instance, dims);
    `,
  },
  {
    // Usage by UTC day beside the hourly rollups (rollup-days.ts), derived from the rollups stored so far.
    version: 4,
    sql: `${ROLLUP_DAYS_TABLE};\n${INSERT_ALL_DAYS};`,
  },
  {
    // Room on each page for the new version of a row that ingest rewrites (a series' latest reading, an hour's or
    // a day's rollup), so that the update stays on its page and adds nothing to the indexes (a HOT update): none of
    // the columns it writes is indexed. A series is rewritten with every reading of a level, so it gets half a page.
    // Pages written from now on are filled this way; VACUUM FULL applies it to rows stored before.
    version: 5,
    sql: `
      ALTER TABLE series SET (fillfactor = 50);
      ALTER TABLE rollups SET (fillfactor = 80);
      ALTER TABLE rollup_days SET (fillfactor = 80);
    `,
  },
  // The usage table's and the petname tables it reads, numbered from 100 to stay clear of the store's own.
  ...USAGE_VIEW_MIGRATIONS,
  ...PETNAME_MIGRATIONS,
  // The feed's order and sources, from 200.
  ...EVENT_FEED_MIGRATIONS,
];

/** The rollup rebuild's advisory lock; see LOCK_MIGRATIONS for the second key. */
export const LOCK_ROLLUPS = 0x7a11_0002;
