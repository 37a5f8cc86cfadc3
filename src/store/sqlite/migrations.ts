// The event log's schema and the derived database's, as versioned steps (db/sqlite-migrate.ts applies them).

import type Database from "better-sqlite3";
import type { Migration } from "../../db/sqlite-migrate.js";
import type { MetricKind } from "../../domain/metric.js";
import { BlockBuilder, blockColumns } from "./packed-block.js";

export const USAGE_MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) STRICT, WITHOUT ROWID;
  CREATE TABLE servers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    last_heard INTEGER NOT NULL,
    last_event_time INTEGER NOT NULL,
    events INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE metrics (name TEXT PRIMARY KEY, kind TEXT NOT NULL) STRICT, WITHOUT ROWID;
  CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    metric TEXT NOT NULL,
    instance TEXT NOT NULL,
    kind TEXT NOT NULL,
    last_time INTEGER,
    last_id TEXT,
    last_value ANY,
    -- account first: the same index finds a series and answers the queries for one account.
    UNIQUE (account, server_id, metric, instance)
  ) STRICT;
  -- The event log: one row per committed batch, events in arrival order (seq = first_seq + position).
  -- data is a JSON array of [id, server_id, series_id, time, value, dims]; fps holds each event's key
  -- fingerprint as a float64, so the dedup level can be reloaded without parsing the events.
  CREATE TABLE event_blocks (
    first_seq INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    -- fps before data: reading a column walks the overflow pages of every column before it.
    fps BLOB NOT NULL,
    data TEXT NOT NULL
  ) STRICT;
  -- Readings of levels and states, by series and time: what rollups of held metrics are computed from.
  CREATE TABLE readings (
    series_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    id TEXT NOT NULL,
    value ANY NOT NULL,
    PRIMARY KEY (series_id, time, id)
  ) STRICT, WITHOUT ROWID;
  -- The merged, on-disk level of the dedup index: every event up to meta.dedup_seq.
  CREATE TABLE event_keys (fp INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (fp, seq)) STRICT, WITHOUT ROWID;
  -- Numbers are INTEGER when they fit 64 bits and decimal TEXT beyond; the CHECKs turn a silent overflow
  -- into REAL into an error, so the adapter can redo that sum exactly.
  CREATE TABLE rollups (
    series_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum ANY CHECK (typeof(sum) IN ('integer', 'text', 'null')),
    last ANY,
    max ANY,
    integral ANY,
    PRIMARY KEY (series_id, hour)
  ) STRICT, WITHOUT ROWID;
  `,
  // Series, readings and rollups became derived state, written behind: blocks name an event's account, metric
  // and instance instead of a series id, and the derived tables are dropped here and derived again on open.
  `
  UPDATE event_blocks SET data = (
    SELECT json_group_array(json_array(e.value ->> 0, e.value ->> 1, s.account, s.metric, s.instance,
                                       e.value ->> 3, e.value -> 4, e.value -> 5) ORDER BY e.key)
    FROM json_each(event_blocks.data) AS e JOIN series AS s ON s.id = e.value ->> 2
  );
  -- The usage table's triggers on series (usage-table.ts) are gone too; they must not see these deletes.
  DROP TRIGGER IF EXISTS usage_view_level;
  DROP TRIGGER IF EXISTS usage_view_level_insert;
  DROP TRIGGER IF EXISTS usage_view_level_delete;
  DELETE FROM readings;
  DELETE FROM series;
  -- Sums that leave 64 bits are caught by the upsert itself now (derived-state.ts), not by a CHECK.
  DROP TABLE rollups;
  CREATE TABLE rollups (
    series_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum ANY,
    last ANY,
    max ANY,
    integral ANY,
    PRIMARY KEY (series_id, hour)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO meta (key, value) VALUES ('rollup_seq', 1) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
  `,
  // Counter rollups by hour first: the rows a write behind adds are those of the latest hours, which then sit
  // together at the end of the table, instead of one or two on every page of a table ordered by series.
  `
  CREATE TABLE counter_rollups (
    hour INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum ANY NOT NULL,
    PRIMARY KEY (hour, series_id)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO counter_rollups (hour, series_id, count, sum)
    SELECT r.hour, r.series_id, r.count, r.sum FROM rollups r JOIN series s ON s.id = r.series_id
    WHERE s.kind = 'counter' ORDER BY r.hour, r.series_id;
  DELETE FROM rollups WHERE series_id IN (SELECT id FROM series WHERE kind = 'counter');
  `,
  // The derived tables moved to a database file of their own, written by the derivation worker (DERIVED_MIGRATIONS),
  // which derives them again from the event log.
  `
  DROP TABLE IF EXISTS series;
  DROP TABLE IF EXISTS readings;
  DROP TABLE IF EXISTS rollups;
  DROP TABLE IF EXISTS counter_rollups;
  DROP TABLE IF EXISTS usage_metrics;
  DROP TABLE IF EXISTS usage_cells;
  DROP TABLE IF EXISTS usage_totals;
  DROP TABLE IF EXISTS usage_server_totals;
  DROP TABLE IF EXISTS usage_log;
  DROP TABLE IF EXISTS usage_server_log;
  DELETE FROM meta WHERE key IN ('rollup_seq', 'usage_log_from', 'usage_log_until');
  DELETE FROM schema_versions WHERE component = 'usage-view';
  `,
  packEventBlocks,
];

/** Joins `r`, the latest reading of held series `s`: its last in (time, id) order, which is its current value. */
export const LATEST_READING = "CROSS JOIN latest r ON r.series_id = s.id";

/**
 * The derived database: everything that is a function of the event log (series, readings, rollups, the usage
 * table's sums and the copies its snapshots read), with meta.rollup_seq, the first event it does not cover, and
 * meta.usage_seq, the same for the usage table's sums.
 */
export const DERIVED_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY) STRICT, WITHOUT ROWID;
  CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    metric TEXT NOT NULL,
    instance TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- account first: the same index finds a series and answers the queries for one account.
    UNIQUE (account, server_id, metric, instance)
  ) STRICT;
  -- Readings of levels and states, by series and time: what rollups of held metrics are computed from. A
  -- series' latest reading is its last in this order (its current value): a series row never changes.
  CREATE TABLE readings (
    series_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    id TEXT NOT NULL,
    value ANY NOT NULL,
    PRIMARY KEY (series_id, time, id)
  ) STRICT, WITHOUT ROWID;
  -- Rollups of held series (levels, states). Numbers are INTEGER when they fit 64 bits and decimal TEXT beyond.
  CREATE TABLE rollups (
    series_id INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum ANY,
    last ANY,
    max ANY,
    integral ANY,
    PRIMARY KEY (series_id, hour)
  ) STRICT, WITHOUT ROWID;
  -- Counter rollups by hour first: the rows a write adds are those of the latest hours, together at the end.
  CREATE TABLE counter_rollups (
    hour INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum ANY NOT NULL,
    PRIMARY KEY (hour, series_id)
  ) STRICT, WITHOUT ROWID;
  -- The usage table (usage-table.ts): latest levels summed per (metric, account, server), per (metric, account)
  -- with each account's cells beside its total, and per (metric, server), as ranks.
  CREATE TABLE usage_metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
  CREATE TABLE usage_cells (
    metric_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    server_id INTEGER NOT NULL,
    rank BLOB NOT NULL,
    PRIMARY KEY (metric_id, account, server_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX usage_cells_by_server ON usage_cells (metric_id, server_id, rank, account);
  CREATE TABLE usage_totals (
    metric_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    rank BLOB NOT NULL,
    cells TEXT NOT NULL DEFAULT '',
    -- The cursor of the write that last moved the row (usage-snapshots.ts).
    changed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (metric_id, account)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX usage_totals_by_rank ON usage_totals (metric_id, rank, account, changed, cells);
  CREATE TABLE usage_server_totals (
    metric_id INTEGER NOT NULL,
    server_id INTEGER NOT NULL,
    rank BLOB NOT NULL,
    PRIMARY KEY (metric_id, server_id)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE usage_log (
    metric_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    account TEXT NOT NULL,
    -- The row before the write at seq; no rank: the account had no row.
    rank BLOB,
    cells TEXT,
    PRIMARY KEY (metric_id, seq, account)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE usage_server_log (
    metric_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    server_id INTEGER NOT NULL,
    rank BLOB,
    PRIMARY KEY (metric_id, seq, server_id)
  ) STRICT, WITHOUT ROWID;
  `,
  // Held rows open after their hour's latest reading (derived-state.ts): the rows before did not say when that was,
  // so everything is derived again from the log, as for a new derived database.
  `
  ALTER TABLE rollups ADD COLUMN last_time INTEGER;
  DELETE FROM rollups;
  DELETE FROM counter_rollups;
  DELETE FROM readings;
  DELETE FROM series;
  DELETE FROM usage_cells;
  DELETE FROM usage_totals;
  DELETE FROM usage_server_totals;
  DELETE FROM usage_log;
  DELETE FROM usage_server_log;
  DELETE FROM meta;
  `,
  // Readings and held rows by hour first, as counter rollups: a write adds rows for the latest hours, together at
  // the end of each table, instead of a row on every page of it. A series' latest reading, and the hour of its
  // first, move to a table of their own. Everything is derived again from the log.
  `
  DROP TABLE readings;
  DROP TABLE rollups;
  CREATE TABLE readings (
    hour INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    time INTEGER NOT NULL,
    id TEXT NOT NULL,
    value ANY NOT NULL,
    PRIMARY KEY (hour, series_id, time, id)
  ) STRICT, WITHOUT ROWID;
  -- Each held row is open at last_time, its hour's latest reading (rollup.ts, fillHeldGaps).
  CREATE TABLE rollups (
    hour INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    last ANY NOT NULL,
    max ANY NOT NULL,
    integral ANY NOT NULL,
    last_time INTEGER NOT NULL,
    PRIMARY KEY (hour, series_id)
  ) STRICT, WITHOUT ROWID;
  -- Per held series: its latest reading (its current value) and the hour of its first, which bound the hours a
  -- search for a series' readings or rows walks.
  CREATE TABLE latest (
    series_id INTEGER PRIMARY KEY,
    first_hour INTEGER NOT NULL,
    time INTEGER NOT NULL,
    id TEXT NOT NULL,
    value ANY NOT NULL
  ) STRICT;
  DELETE FROM counter_rollups;
  DELETE FROM series;
  DELETE FROM usage_metrics;
  DELETE FROM usage_cells;
  DELETE FROM usage_totals;
  DELETE FROM usage_server_totals;
  DELETE FROM usage_log;
  DELETE FROM usage_server_log;
  DELETE FROM meta;
  `,
  // A series is also keyed by its events' kept dims (rollup.ts, ROLLUP_DIMS), which the log has always held:
  // everything is derived again from it.
  `
  DROP TABLE series;
  CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    metric TEXT NOT NULL,
    instance TEXT NOT NULL,
    -- The kept dims as rollup.ts dimsKey gives them: '' for none.
    dims TEXT NOT NULL,
    kind TEXT NOT NULL,
    UNIQUE (account, server_id, metric, instance, dims)
  ) STRICT;
  DELETE FROM readings;
  DELETE FROM rollups;
  DELETE FROM latest;
  DELETE FROM counter_rollups;
  DELETE FROM usage_metrics;
  DELETE FROM usage_cells;
  DELETE FROM usage_totals;
  DELETE FROM usage_server_totals;
  DELETE FROM usage_log;
  DELETE FROM usage_server_log;
  DELETE FROM meta;
  `,
  // Usage by UTC day, so that a month of a series is read as 31 rows (day-usage.ts): by day first, as the hourly
  // tables, so that a write adds rows for the latest day together at the end. Everything is derived again from the
  // log, which fills it.
  `
  CREATE TABLE days (
    day INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    -- A counter's sum of the day.
    sum ANY,
    -- A level or state's readings of the day (held-day.ts): value × ms from the first, at first_time, to the day's
    -- end, and the latest's value, last.
    integral ANY,
    first_time INTEGER,
    last ANY,
    PRIMARY KEY (day, series_id)
  ) STRICT, WITHOUT ROWID;
  DELETE FROM readings;
  DELETE FROM rollups;
  DELETE FROM latest;
  DELETE FROM counter_rollups;
  DELETE FROM series;
  DELETE FROM usage_metrics;
  DELETE FROM usage_cells;
  DELETE FROM usage_totals;
  DELETE FROM usage_server_totals;
  DELETE FROM usage_log;
  DELETE FROM usage_server_log;
  DELETE FROM meta;
  `,
  // A held row keeps its hour's latest reading whole (its id too), and the readings table only the hour's others: a
  // series read at most once an hour writes no reading rows at all. Everything is derived again from the log.
  `
  DROP TABLE rollups;
  CREATE TABLE rollups (
    hour INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    last ANY NOT NULL,
    max ANY NOT NULL,
    integral ANY NOT NULL,
    last_time INTEGER NOT NULL,
    last_id TEXT NOT NULL,
    PRIMARY KEY (hour, series_id)
  ) STRICT, WITHOUT ROWID;
  DELETE FROM readings;
  DELETE FROM latest;
  DELETE FROM days;
  DELETE FROM counter_rollups;
  DELETE FROM series;
  DELETE FROM usage_metrics;
  DELETE FROM usage_cells;
  DELETE FROM usage_totals;
  DELETE FROM usage_server_totals;
  DELETE FROM usage_log;
  DELETE FROM usage_server_log;
  DELETE FROM meta;
  `,
];

/**
 * The event log's blocks from JSON arrays of [id, server_id, account, metric, instance, time, value, dims] to
 * packed blocks (packed-block.ts): the numbers as BLOBs, the rest as one JSON text. fps stays before the others:
 * reading a column walks the overflow pages of every column before it.
 */
function packEventBlocks(db: Database.Database): void {
  db.exec(`CREATE TABLE packed_blocks (
    first_seq INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    fps BLOB NOT NULL,
    refs BLOB NOT NULL,
    numbers BLOB NOT NULL,
    text TEXT NOT NULL
  ) STRICT`);
  const kinds = new Map(db.prepare("SELECT name, kind FROM metrics").raw().all() as [string, MetricKind][]);
  const next = db.prepare(
    "SELECT first_seq, fps, data FROM event_blocks WHERE first_seq > ? ORDER BY first_seq LIMIT 64",
  );
  const insert = db.prepare(
    "INSERT INTO packed_blocks (first_seq, count, fps, refs, numbers, text) VALUES (?, ?, ?, ?, ?, ?)",
  );
  type Stored = [string, number, string, string, string, number, number | string, Record<string, string> | null];
  for (let after = 0; ; ) {
    const rows = next.raw().all(after) as [number | bigint, Buffer, string][];
    if (rows.length === 0) break;
    for (const [first, fps, data] of rows) {
      const events = JSON.parse(data) as Stored[];
      const block = new BlockBuilder(Number(first), events.length);
      for (const [id, serverId, account, metric, instance, time, value, dims] of events) {
        const kind = kinds.get(metric) as MetricKind;
        block.add({ id, account, metric, instance, kind, time, value: BigInt(value), dims }, serverId);
      }
      const { refs, numbers, text } = blockColumns(block.finish());
      insert.run(first, events.length, fps, refs, numbers, text);
      after = Number(first);
    }
  }
  db.exec("DROP TABLE event_blocks; ALTER TABLE packed_blocks RENAME TO event_blocks");
}
