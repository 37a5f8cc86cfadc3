// The shared store: events and hourly rollups in PostgreSQL, written by several Tally nodes at once.
//
// A batch's events are stored in one transaction, after a short one that creates its metrics and series
// (postgres-ingest.ts has the phases). Dedup is the primary key (server, id) with ON
// CONFLICT DO NOTHING, so it is exact across nodes. Counter rollups are additive upserts; level and state series
// are locked (FOR UPDATE, in id order) while their hours are recomputed with `heldRows`, so two nodes ingesting one
// series stay correct. Here: the pool, retries, reads, and rebuilding every rollup from the events.

import pg from "pg";
import { postgresError } from "../../db/postgres-errors.js";
import { migrate, SCHEMA_NAME } from "../../db/postgres-migrate.js";
import type { DayRow } from "../../domain/day-usage.js";
import { AppError, messageOf } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import { dimsOfKey, type HeldRow, heldRows, type Reading, type RollupRow } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { CounterSummer, counterPieces } from "../counter-sums.js";
import type {
  AccountsAfterQuery,
  AccountsRollupQuery,
  CounterSum,
  CounterSumQuery,
  CurrentLevel,
  CurrentLevelQuery,
  DerivationLag,
  FeedFilter,
  FeedPage,
  InsertOptions,
  InsertOutcome,
  ReaderLocation,
  RollupPage,
  RollupQuery,
  RollupScanQuery,
  ServerInfo,
  StoreStats,
  UsageStore,
  UsageTablePage,
  UsageTableQuery,
} from "../port.js";
import { rollupPagesOf } from "../rollup-pages.js";
import { columns, heldColumns, INSERT_HELD_ROWS } from "./columns.js";
import { recordSourcePosition, selectEventsAfter, selectSourcePosition } from "./event-feed.js";
import { writeLatest } from "./held-rollups.js";
import { LOCK_ROLLUPS, MIGRATIONS } from "./migrations.js";
import { type Learned, PostgresIngest } from "./postgres-ingest.js";
import { rekeyByDims } from "./rekey-by-dims.js";
import { INSERT_ALL_DAYS, selectAccountsDays } from "./rollup-days.js";
import {
  countRollups,
  type Read,
  selectAccountsAfter,
  selectAccountsRollups,
  selectAllRollups,
  selectRollupRange,
} from "./rollup-reads.js";
import { openUsageLog } from "./usage-snapshots.js";
import { PostgresUsageTable } from "./usage-table.js";

export interface PostgresStoreOptions {
  /** A libpq connection URL, e.g. postgres://user@host:5432/db. */
  readonly url: string;
  /** A schema of its own (created if needed), made the search_path of every pooled connection. */
  readonly schema?: string;
  /** Drops the schema, with everything in it, on close: for tests, which use a fresh schema each. */
  readonly dropSchemaOnClose?: boolean;
  /** Connections in the pool. */
  readonly maxConnections?: number;
  /** Readings of one series held in memory at a time by rebuildRollups before its hours are written. */
  readonly rebuildChunk?: number;
}

const MAX_ATTEMPTS = 5;
const ROLLUP_LOCK_KEYS = `${LOCK_ROLLUPS}, hashtext(coalesce(current_schema()::text, ''))`;
const DEFAULT_REBUILD_CHUNK = 50_000;
const FETCH_ROWS = 10_000;
const WRITE_ROWS = 10_000;
/** serialization_failure and deadlock_detected: the transaction did nothing and can run again. */
const RETRYABLE = new Set(["40001", "40P01"]);

export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresUsageStore> {
  const { url, schema } = options;
  const description = describeUrl(url, schema);
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new AppError("VALIDATION", `PostgreSQL schema "${schema}" must be lower-case letters, digits and _`);
  }
  const pool = poolOf(url, schema, options.maxConnections ?? 10);
  try {
    const client = await pool.connect();
    try {
      await migrate(client, schema, MIGRATIONS);
      await openUsageLog(client);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new AppError("UNAVAILABLE", `cannot open the PostgreSQL store at ${description}: ${messageOf(error)}`);
  }
  return new PostgresUsageStore(pool, description, options);
}

function poolOf(url: string, schema: string | undefined, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // Set at connection start-up, so that every pooled connection has them before its first query: the schema,
    // and no JIT compilation, which PostgreSQL starts from cost estimates alone and which took 60–200 ms of a
    // statement that read a few rows (a batch's day statement, a page's read before statistics were gathered).
    options: `-c jit=off${schema === undefined ? "" : ` -c search_path=${schema}`}`,
  });
  // A connection that breaks while idle is dropped by the pool; the next query reports the problem.
  pool.on("error", () => undefined);
  return pool;
}

/** The reads of a store another pool of this process opened (and migrated), on a connection of their own. */
export function openPostgresReader(location: Extract<ReaderLocation, { store: "postgres" }>): PostgresUsageStore {
  const schema = location.schema ?? undefined;
  return new PostgresUsageStore(poolOf(location.url, schema, 1), describeUrl(location.url, schema), {
    url: location.url,
    ...(schema === undefined ? {} : { schema }),
  });
}

export class PostgresUsageStore implements UsageStore {
  readonly description: string;
  private readonly schema: string | null;
  private readonly dropSchemaOnClose: boolean;
  private readonly rebuildChunk: number;
  private closed = false;
  private readonly usageView: PostgresUsageTable;
  private readonly ingest = new PostgresIngest();

  constructor(
    /** The pool, for the backend to build the other PostgreSQL adapters of this process on. */
    readonly pool: pg.Pool,
    description: string,
    private readonly options: Pick<PostgresStoreOptions, "url" | "schema" | "dropSchemaOnClose" | "rebuildChunk">,
  ) {
    this.description = description;
    this.schema = options.schema ?? null;
    this.dropSchemaOnClose = options.dropSchemaOnClose === true && options.schema !== undefined;
    this.rebuildChunk = Math.max(1, options.rebuildChunk ?? DEFAULT_REBUILD_CHUNK);
    this.usageView = new PostgresUsageTable(pool);
  }

  async insertEvents(events: readonly UsageEvent[], options: InsertOptions = {}): Promise<InsertOutcome> {
    this.assertOpen();
    const { source } = options;
    if (events.length === 0 && !source) return { accepted: 0, duplicates: 0, rejected: [] };
    const learned: Learned = { kinds: new Map(), series: new Map() };
    const forget = () => {
      learned.kinds.clear();
      learned.series.clear();
    };
    const batch = await this.transaction(async (client) => {
      forget();
      return this.ingest.prepare(client, events, learned);
    }, true);
    this.ingest.remember(learned);
    const outcome = await this.transaction(async (client) => {
      forget();
      if (source) await recordSourcePosition(client, source);
      return this.ingest.insert(client, batch, learned, source?.name ?? null);
    }, true);
    this.ingest.remember(learned);
    this.usageView.snapshots.wrote();
    return outcome;
  }

  async sourcePosition(name: string): Promise<string | null> {
    return selectSourcePosition(this.reader, name);
  }

  async eventsAfter(cursor: string | null, limit: number, filter: FeedFilter): Promise<FeedPage> {
    return selectEventsAfter(this.reader, cursor, limit, filter);
  }

  async currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]> {
    const rows = await this.read<{
      server: string;
      account: string;
      metric: string;
      instance: string;
      dims: string;
      last_value: string;
      last_time: string;
    }>(
      `SELECT server, account, metric, instance, dims, last_value, last_time FROM series
       WHERE metric = $1 AND kind <> 'counter' AND last_time IS NOT NULL
         AND ($2::text[] IS NULL OR account = ANY($2::text[]))
         AND ($3::text[] IS NULL OR server = ANY($3::text[]))
       ORDER BY server, account, instance, dims`,
      [query.metric, query.accounts ?? null, query.servers ?? null],
    );
    return rows.map((r) => ({
      server: r.server,
      account: r.account,
      metric: r.metric,
      instance: r.instance,
      dims: dimsOfKey(r.dims),
      value: BigInt(r.last_value),
      time: Number(r.last_time),
    }));
  }

  async rollups(query: RollupQuery): Promise<RollupRow[]> {
    return selectRollupRange(this.reader, query);
  }

  /**
   * Each series' pieces (counter-sums.ts): its day rows of the whole days and its hourly rows before and after, as one
   * JSON array of hour, sum, hour, sum… where an hour is hours since 1970 (six digits where epoch ms take thirteen)
   * and a sum beyond a double's integers is a string; arrays of text would be parsed twice as slowly.
   */
  async counterSums(query: CounterSumQuery): Promise<CounterSum[]> {
    const { first, to, wholeFrom, wholeTo } = counterPieces(query);
    const safe = Number.MAX_SAFE_INTEGER;
    const rows = await this.read<{ metric: string; pieces: string | null }>(
      `SELECT s.metric, p.pieces FROM series s CROSS JOIN LATERAL (
         SELECT '[' || string_agg(t / ${HOUR_MS} || ',' || CASE WHEN v BETWEEN -${safe} AND ${safe} THEN v::text ELSE '"' || v || '"' END, ',')
           || ']' AS pieces
         FROM (
           SELECT d.day AS t, d.sum AS v FROM rollup_days d WHERE d.series_id = s.id AND d.day >= $4 AND d.day < $5
           UNION ALL
           SELECT r.hour, r.sum FROM rollups r WHERE r.series_id = s.id AND r.hour >= $2 AND r.hour < $4
           UNION ALL
           SELECT r.hour, r.sum FROM rollups r WHERE r.series_id = s.id AND r.hour >= $5 AND r.hour < $3
         ) q
       ) p
       WHERE s.account = $1 AND s.kind = 'counter' AND s.metric = ANY($6::text[])
         AND ($7::text[] IS NULL OR s.server = ANY($7::text[]))`,
      [query.account, first, to, wholeFrom, wholeTo, query.metrics, query.servers ?? null],
    );
    const summer = new CounterSummer(query.byHour, first);
    for (const { metric, pieces } of rows) {
      const flat = JSON.parse(pieces ?? "[]") as (number | string)[];
      for (let i = 0; i < flat.length; i += 2) summer.add(metric, flat[i] as number, flat[i + 1] as number | string);
    }
    return summer.result();
  }

  rollupPages(query: RollupScanQuery): AsyncIterable<RollupPage> {
    return rollupPagesOf(this, query);
  }

  async accountsAfter(query: AccountsAfterQuery): Promise<string[]> {
    return selectAccountsAfter(this.reader, query);
  }

  async accountsRollups(query: AccountsRollupQuery): Promise<RollupRow[]> {
    return selectAccountsRollups(this.reader, query);
  }

  async accountsDays(query: AccountsRollupQuery): Promise<DayRow[]> {
    return selectAccountsDays(this.reader, query);
  }

  async allRollups(): Promise<RollupRow[]> {
    return selectAllRollups(this.reader);
  }

  async readerLocation(): Promise<ReaderLocation> {
    return { store: "postgres", url: this.options.url, schema: this.schema };
  }

  async servers(): Promise<ServerInfo[]> {
    const rows = await this.read<{
      server: string;
      last_heard: string;
      last_event_time: string;
      events: string;
    }>("SELECT server, last_heard, last_event_time, events FROM servers ORDER BY server");
    return rows.map((r) => ({
      server: r.server,
      lastHeard: Number(r.last_heard),
      lastEventTime: Number(r.last_event_time),
      events: Number(r.events),
    }));
  }

  async metricKinds(): Promise<Record<string, MetricKind>> {
    const rows = await this.read<{ name: string; kind: MetricKind }>("SELECT name, kind FROM metrics ORDER BY name");
    const kinds: Record<string, MetricKind> = {};
    for (const r of rows) kinds[r.name] = r.kind;
    return kinds;
  }

  /**
   * Derives every rollup again from the events, in one transaction that ingest on every node waits for. Counters
   * are summed by PostgreSQL; level and state readings are streamed in order and go through heldRows a chunk
   * of hours at a time, so a long series never has to fit in memory. The days are then derived from the hours.
   */
  async rebuildRollups(): Promise<{ events: number; rollups: number }> {
    this.assertOpen();
    return this.transaction(async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${ROLLUP_LOCK_KEYS})`);
      await rekeyByDims(client);
      await client.query("DELETE FROM rollups; DELETE FROM rollup_days");
      await client.query(
        `INSERT INTO rollups (series_id, hour, count, sum)
         SELECT e.series_id, e.time - e.time % ${HOUR_MS}, count(*), sum(e.value)
         FROM events e JOIN series s ON s.id = e.series_id
         WHERE s.kind = 'counter'
         GROUP BY 1, 2`,
      );
      await this.rebuildHeld(client);
      await client.query(INSERT_ALL_DAYS);
      const events = await client.query<{ n: string }>("SELECT count(*) AS n FROM events");
      const rollups = await countRollups(async (sql, values) => (await client.query(sql, values)).rows);
      return { events: Number(events.rows[0]?.n ?? 0), rollups };
    });
  }

  private async rebuildHeld(client: pg.PoolClient): Promise<void> {
    const pendingRows: { seriesId: string; row: HeldRow }[] = [];
    const latest: { seriesId: string; reading: Reading }[] = [];
    const flushRows = async (force: boolean) => {
      if (pendingRows.length === 0 || (!force && pendingRows.length < WRITE_ROWS)) return;
      await client.query(
        INSERT_HELD_ROWS,
        columns(pendingRows, ({ seriesId, row }) => [seriesId, ...heldColumns(row)]),
      );
      pendingRows.length = 0;
    };
    const flushLatest = async (force: boolean) => {
      if (latest.length === 0 || (!force && latest.length < WRITE_ROWS)) return;
      await writeLatest(client, latest);
      latest.length = 0;
    };

    // One series at a time, in (time, id) order: `carry` is the reading before `fromHour`, `readings` those since.
    let seriesId: string | null = null;
    let carry: Reading | null = null;
    let readings: Reading[] = [];
    let fromHour = 0;
    const emit = (toHour: number, nextTime: number | null) => {
      if (seriesId === null) return;
      for (const row of heldRows(carry, readings, fromHour, toHour, nextTime, true))
        pendingRows.push({ seriesId, row });
    };
    const endSeries = () => {
      const newest = readings.at(-1);
      if (seriesId === null || !newest) return;
      emit(hourOf(newest.time), null);
      latest.push({ seriesId, reading: newest });
    };

    await client.query(
      `DECLARE held_readings NO SCROLL CURSOR FOR
       SELECT e.series_id, e.time, e.id, e.value
       FROM events e JOIN series s ON s.id = e.series_id
       WHERE s.kind <> 'counter'
       ORDER BY e.series_id, e.time, e.id`,
    );
    for (;;) {
      const batch = await client.query<{ series_id: string; time: string; id: string; value: string }>(
        `FETCH ${FETCH_ROWS} FROM held_readings`,
      );
      for (const r of batch.rows) {
        const reading = { time: Number(r.time), id: r.id, value: BigInt(r.value) };
        if (r.series_id !== seriesId) {
          endSeries();
          seriesId = r.series_id;
          carry = null;
          readings = [reading];
          fromHour = hourOf(reading.time);
          continue;
        }
        const hour = hourOf(reading.time);
        const newest = readings.at(-1) as Reading;
        if (readings.length >= this.rebuildChunk && hour > hourOf(newest.time)) {
          // Every hour before this reading's is complete: write them and carry the newest reading over.
          emit(hour - HOUR_MS, reading.time);
          carry = newest;
          readings = [];
          fromHour = hour;
        }
        readings.push(reading);
      }
      await flushRows(false);
      await flushLatest(false);
      if (batch.rows.length < FETCH_ROWS) break;
    }
    endSeries();
    await client.query("CLOSE held_readings");
    await flushRows(true);
    await flushLatest(true);
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    this.assertOpen();
    return this.usageView.usageTable(query);
  }

  /** Rollups and the usage table are written in the transaction of their events: never behind. */
  async derivationLag(): Promise<DerivationLag> {
    this.assertOpen();
    return { events: 0, seconds: 0 };
  }

  async stats(): Promise<StoreStats> {
    const [r] = await this.read<{ events: string; series: string }>(
      "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM series) AS series",
    );
    const rollups = await countRollups(this.reader);
    return { events: Number(r?.events ?? 0), series: Number(r?.series ?? 0), rollups };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.usageView.snapshots.close();
      if (this.dropSchemaOnClose && this.schema !== null) {
        await this.pool.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
      }
    } finally {
      await this.pool.end();
    }
  }

  /**
   * Runs `work` in a transaction, again when PostgreSQL aborted it for a deadlock or a serialization failure.
   * Ingest holds the rollup lock shared, so a rebuild (which holds it alone) never sees half a batch.
   */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>, ingest = false): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect().catch((error: unknown) => {
        throw postgresError(error);
      });
      let broken: Error | undefined;
      try {
        // One round trip: the lock is the first thing a batch waits for, so it never holds anything a rebuild needs.
        // A batch's statements each touch few rows of a series, but PostgreSQL's estimate of a range of a series'
        // rollups can be far too high and make it JIT-compile a statement, which then costs more than it runs.
        await client.query(ingest ? `BEGIN; SELECT pg_advisory_xact_lock_shared(${ROLLUP_LOCK_KEYS})` : "BEGIN");
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        const code = (error as { code?: unknown }).code;
        if (attempt < MAX_ATTEMPTS && typeof code === "string" && RETRYABLE.has(code)) continue;
        throw postgresError(error);
      } finally {
        client.release(broken);
      }
    }
  }

  private readonly reader: Read = (sql, values) => this.read(sql, values);

  /** A query outside a transaction, for the read side. */
  private async read<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]> {
    this.assertOpen();
    try {
      return (await this.pool.query<R>(sql, values)).rows;
    } catch (error) {
      throw postgresError(error);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError("UNAVAILABLE", "the store is closed");
  }
}

/** Where the store is, for the start-up log: host, port, database and schema, never the user or password. */
export function describeUrl(url: string, schema?: string): string {
  let where = "postgres";
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get("host") || "localhost";
    const port = u.port || u.searchParams.get("port") || "5432";
    where = `postgres://${host}:${port}${u.pathname || "/"}`;
  } catch {
    // Not a URL (a libpq key=value string, say): name the adapter only, since the string may hold a password.
  }
  return schema === undefined ? where : `${where} (schema ${schema})`;
}
