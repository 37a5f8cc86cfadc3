// The shared store: events and hourly rollups in PostgreSQL, written by several Tally nodes at once.
//
// A batch is one transaction. Dedup is the primary key (server, id) with ON CONFLICT DO NOTHING, so it is exact
// across nodes. Counter rollups are additive upserts; level and state series are locked (FOR UPDATE, in id
// order) while their hours are recomputed with `heldRows`, so two nodes ingesting one series stay correct.
// Every multi-row statement takes its rows in one global order (keys sorted as UTF-8 bytes), and the phases of
// a batch always run in the same order, so concurrent batches wait for each other but never deadlock.

import pg from "pg";
import { postgresError } from "../../db/postgres-errors.js";
import { migrate, SCHEMA_NAME } from "../../db/postgres-migrate.js";
import { AppError, messageOf } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import {
  compareReadings,
  compareUtf8,
  type HeldRow,
  heldRows,
  type Reading,
  type RollupRow,
} from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import type {
  CurrentLevel,
  CurrentLevelQuery,
  InsertOutcome,
  RollupQuery,
  ServerInfo,
  StoreStats,
  UsageStore,
  UsageTablePage,
  UsageTableQuery,
} from "../port.js";
import { LOCK_ROLLUPS, MIGRATIONS } from "./migrations.js";
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

/** The part of a series the batch needs: its id and, for levels and states, its latest reading. */
interface SeriesState {
  readonly id: string;
  readonly kind: MetricKind;
  readonly last: Reading | null;
}

/** What a batch learned about metrics and series, kept only once the batch has committed. */
interface Learned {
  readonly kinds: Map<string, MetricKind>;
  readonly series: Map<string, { readonly id: string; readonly kind: MetricKind }>;
}

interface HeldWrite {
  readonly seriesId: string;
  readonly rows: readonly HeldRow[];
}

/** Rows written by one statement: parallel arrays, one per column, passed to unnest(). */
type Columns = unknown[][];

const MAX_ATTEMPTS = 5;
const SERIES_CACHE_LIMIT = 200_000;
/** The keys of the lock between ingest (shared) and rebuildRollups (exclusive), on the schema in use. */
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
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    // Set at connection start-up, so every pooled connection uses the schema before its first query.
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // A connection that breaks while idle is dropped by the pool; the next query reports the problem.
  pool.on("error", () => undefined);
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

export class PostgresUsageStore implements UsageStore {
  readonly description: string;
  private readonly schema: string | null;
  private readonly dropSchemaOnClose: boolean;
  private readonly rebuildChunk: number;
  /** Kinds never change once stored, and series are never deleted, so what a committed batch learned is kept. */
  private readonly kinds = new Map<string, MetricKind>();
  private readonly seriesIds = new Map<string, { readonly id: string; readonly kind: MetricKind }>();
  private closed = false;
  private readonly usageView: PostgresUsageTable;

  constructor(
    /** The pool, for the backend to build the other PostgreSQL adapters of this process on. */
    readonly pool: pg.Pool,
    description: string,
    options: Pick<PostgresStoreOptions, "schema" | "dropSchemaOnClose" | "rebuildChunk"> = {},
  ) {
    this.description = description;
    this.schema = options.schema ?? null;
    this.dropSchemaOnClose = options.dropSchemaOnClose === true && options.schema !== undefined;
    this.rebuildChunk = Math.max(1, options.rebuildChunk ?? DEFAULT_REBUILD_CHUNK);
    this.usageView = new PostgresUsageTable(pool);
  }

  async insertEvents(events: readonly UsageEvent[]): Promise<InsertOutcome> {
    this.assertOpen();
    if (events.length === 0) return { accepted: 0, duplicates: 0, rejected: [] };
    const learned: Learned = { kinds: new Map(), series: new Map() };
    const outcome = await this.transaction(async (client) => {
      learned.kinds.clear();
      learned.series.clear();
      return this.insertBatch(client, events, learned);
    }, true);
    for (const [name, kind] of learned.kinds) this.kinds.set(name, kind);
    if (this.seriesIds.size + learned.series.size > SERIES_CACHE_LIMIT) this.seriesIds.clear();
    for (const [key, series] of learned.series) this.seriesIds.set(key, series);
    this.usageView.snapshots.wrote();
    return outcome;
  }

  private async insertBatch(
    client: pg.PoolClient,
    events: readonly UsageEvent[],
    learned: Learned,
  ): Promise<InsertOutcome> {
    // 1. Kinds: the first kind a metric was stored with wins, and within a batch the first event's.
    const kinds = await this.resolveKinds(client, events, learned.kinds);
    const rejected: { index: number; reason: string }[] = [];
    const firstSeen = new Map<string, number>();
    let duplicates = 0;
    for (const [index, e] of events.entries()) {
      const kind = kinds.get(e.metric) as MetricKind;
      if (kind !== e.kind) {
        rejected.push({ index, reason: `kind "${e.kind}" contradicts ${e.metric}, stored as a ${kind}` });
      } else if (firstSeen.has(eventKey(e))) {
        duplicates++;
      } else {
        firstSeen.set(eventKey(e), index);
      }
    }
    const candidates = [...firstSeen.values()].map((i) => events[i] as UsageEvent);
    if (candidates.length === 0) return { accepted: 0, duplicates, rejected };

    // 2. Series: created if new; levels and states locked for the rest of the batch.
    const series = await this.resolveSeries(client, candidates, learned.series);

    // 3. Events: the primary key drops what any node stored before.
    candidates.sort((a, b) => compareUtf8(a.server, b.server) || compareUtf8(a.id, b.id));
    const inserted = await client.query<{ server: string; id: string }>(
      `INSERT INTO events (series_id, server, id, time, value, dims)
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::numeric[], $6::jsonb[])
       ON CONFLICT (server, id) DO NOTHING
       RETURNING server, id`,
      columns(candidates, (e) => [
        seriesOf(series, e).id,
        e.server,
        e.id,
        e.time,
        e.value.toString(),
        e.dims ? JSON.stringify(e.dims) : null,
      ]),
    );
    const stored = new Set(inserted.rows.map((r) => eventKey(r)));
    const accepted = candidates.filter((e) => stored.has(eventKey(e)));
    duplicates += candidates.length - accepted.length;

    // 4. Rollups and the latest readings, then 5. the servers.
    await this.addCounters(client, series, accepted);
    await this.recomputeHeld(client, series, accepted);
    await this.touchServers(client, accepted);
    return { accepted: accepted.length, duplicates, rejected };
  }

  /** The stored kind of every metric in the batch, storing the batch's first kind for metrics new to the store. */
  private async resolveKinds(
    client: pg.PoolClient,
    events: readonly UsageEvent[],
    learned: Map<string, MetricKind>,
  ): Promise<Map<string, MetricKind>> {
    const kinds = new Map<string, MetricKind>();
    const unknown = new Map<string, MetricKind>();
    for (const e of events) {
      const cached = this.kinds.get(e.metric);
      if (cached) kinds.set(e.metric, cached);
      else if (!unknown.has(e.metric)) unknown.set(e.metric, e.kind);
    }
    if (unknown.size === 0) return kinds;
    const names = [...unknown.keys()].sort(compareUtf8);
    await client.query(
      `INSERT INTO metrics (name, kind) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (name) DO NOTHING`,
      [names, names.map((n) => unknown.get(n))],
    );
    const stored = await client.query<{ name: string; kind: MetricKind }>(
      "SELECT name, kind FROM metrics WHERE name = ANY($1::text[])",
      [names],
    );
    for (const { name, kind } of stored.rows) {
      kinds.set(name, kind);
      learned.set(name, kind);
    }
    return kinds;
  }

  /** Series by seriesKey, creating new ones; levels and states locked, with their latest reading. */
  private async resolveSeries(
    client: pg.PoolClient,
    events: readonly UsageEvent[],
    learned: Learned["series"],
  ): Promise<Map<string, SeriesState>> {
    const keys = new Map<string, UsageEvent>();
    for (const e of events) if (!keys.has(seriesKey(e))) keys.set(seriesKey(e), e);
    const all = [...keys.values()].sort(
      (a, b) =>
        compareUtf8(a.server, b.server) ||
        compareUtf8(a.account, b.account) ||
        compareUtf8(a.metric, b.metric) ||
        compareUtf8(a.instance, b.instance),
    );
    const key = (e: UsageEvent) => [e.server, e.account, e.metric, e.instance];
    const unknown = all.filter((e) => !this.seriesIds.has(seriesKey(e)));
    if (unknown.length > 0) {
      await client.query(
        `INSERT INTO series (server, account, metric, instance, kind)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (server, account, metric, instance) DO NOTHING`,
        columns(unknown, (e) => [...key(e), e.kind]),
      );
    }
    const series = new Map<string, SeriesState>();
    for (const e of all) {
      const known = this.seriesIds.get(seriesKey(e));
      if (known && !isHeld(known.kind)) series.set(seriesKey(e), { ...known, last: null });
    }
    const select = async (list: UsageEvent[], lock: boolean) => {
      if (list.length === 0) return;
      const found = await client.query<{
        id: string;
        server: string;
        account: string;
        metric: string;
        instance: string;
        kind: MetricKind;
        last_time: string | null;
        last_id: string | null;
        last_value: string | null;
      }>(
        `SELECT s.id, s.server, s.account, s.metric, s.instance, s.kind, s.last_time, s.last_id, s.last_value
         FROM series s
         JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k (server, account, metric, instance)
           ON s.server = k.server COLLATE "C" AND s.account = k.account COLLATE "C"
          AND s.metric = k.metric COLLATE "C" AND s.instance = k.instance COLLATE "C"
         ORDER BY s.id${lock ? " FOR UPDATE OF s" : ""}`,
        columns(list, key),
      );
      for (const r of found.rows) {
        const last =
          r.last_time === null || r.last_id === null || r.last_value === null
            ? null
            : { time: Number(r.last_time), id: r.last_id, value: BigInt(r.last_value) };
        series.set(seriesKey(r), { id: r.id, kind: r.kind, last });
        learned.set(seriesKey(r), { id: r.id, kind: r.kind });
      }
    };
    // Levels and states are locked, in id order; counters only add to their rollups and need no lock.
    await select(
      all.filter((e) => isHeld(e.kind)),
      true,
    );
    await select(
      all.filter((e) => !series.has(seriesKey(e))),
      false,
    );
    return series;
  }

  private async addCounters(
    client: pg.PoolClient,
    series: Map<string, SeriesState>,
    accepted: readonly UsageEvent[],
  ): Promise<void> {
    const deltas = new Map<string, { seriesId: string; hour: number; count: number; sum: bigint }>();
    for (const e of accepted) {
      if (isHeld(e.kind)) continue;
      const seriesId = seriesOf(series, e).id;
      const hour = hourOf(e.time);
      const k = `${seriesId}:${hour}`;
      const d = deltas.get(k);
      if (d) {
        d.count++;
        d.sum += e.value;
      } else {
        deltas.set(k, { seriesId, hour, count: 1, sum: e.value });
      }
    }
    if (deltas.size === 0) return;
    const rows = [...deltas.values()].sort((a, b) => compareIds(a.seriesId, b.seriesId) || a.hour - b.hour);
    await client.query(
      `INSERT INTO rollups (series_id, hour, count, sum)
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::numeric[])
       ON CONFLICT (series_id, hour) DO UPDATE
       SET count = rollups.count + excluded.count, sum = rollups.sum + excluded.sum`,
      columns(rows, (d) => [d.seriesId, d.hour, d.count, d.sum.toString()]),
    );
  }

  /**
   * Rewrites the hours of each level or state series that the batch's readings change. When every new reading
   * comes after the series' latest, only the latest reading's hour and the hours after it change, and that hour
   * is merged with its stored row. Otherwise the affected hours are recomputed from the stored readings: from
   * the hour of the earliest new reading to the hour of the first stored reading after the newest new one.
   */
  private async recomputeHeld(
    client: pg.PoolClient,
    series: Map<string, SeriesState>,
    accepted: readonly UsageEvent[],
  ): Promise<void> {
    const bySeries = new Map<string, { state: SeriesState; readings: Reading[] }>();
    for (const e of accepted) {
      if (!isHeld(e.kind)) continue;
      const state = seriesOf(series, e);
      const entry = bySeries.get(state.id) ?? { state, readings: [] };
      entry.readings.push({ time: e.time, id: e.id, value: e.value });
      bySeries.set(state.id, entry);
    }
    if (bySeries.size === 0) return;

    const writes: HeldWrite[] = [];
    const appended: { state: SeriesState & { last: Reading }; readings: Reading[] }[] = [];
    const late: { state: SeriesState; readings: Reading[] }[] = [];
    const latest: { seriesId: string; reading: Reading }[] = [];
    for (const entry of bySeries.values()) {
      const { state, readings } = entry;
      readings.sort(compareReadings);
      const first = readings[0] as Reading;
      const newest = readings.at(-1) as Reading;
      const last = state.last;
      if (!last || compareReadings(newest, last) > 0) latest.push({ seriesId: state.id, reading: newest });
      if (!last) {
        // A new series: nothing stored yet.
        writes.push({
          seriesId: state.id,
          rows: heldRows(null, readings, hourOf(first.time), hourOf(newest.time), null),
        });
      } else if (compareReadings(first, last) > 0) {
        appended.push({ state: { ...state, last }, readings });
      } else {
        late.push(entry);
      }
    }

    if (appended.length > 0) {
      const stored = await client.query<{ series_id: string; count: number; max: string; integral: string }>(
        `SELECT r.series_id, r.count, r.max, r.integral
         FROM rollups r JOIN unnest($1::bigint[], $2::bigint[]) AS k (series_id, hour)
           ON r.series_id = k.series_id AND r.hour = k.hour`,
        columns(appended, (a) => [a.state.id, hourOf(a.state.last.time)]),
      );
      const rowOf = new Map(stored.rows.map((r) => [r.series_id, r]));
      for (const a of appended) {
        const { last } = a.state;
        const hour = hourOf(last.time);
        const rows = heldRows(last, a.readings, hour, hourOf((a.readings.at(-1) as Reading).time), null);
        const head = rows[0];
        const old = rowOf.get(a.state.id);
        if (!old || !head || head.hour !== hour) {
          late.push(a); // Not what this series should look like; recompute it from its readings instead.
          continue;
        }
        // heldRows held `last` from the start of its hour; the stored row already covers the hour up to `last`.
        const merged: HeldRow = {
          hour,
          count: old.count + head.count,
          last: head.last,
          max: maxOf(BigInt(old.max), head.max),
          integral: BigInt(old.integral) + head.integral - last.value * BigInt(last.time - hour),
          lastTime: head.lastTime,
        };
        writes.push({ seriesId: a.state.id, rows: [merged, ...rows.slice(1)] });
      }
    }

    if (late.length > 0) writes.push(...(await this.recomputeLate(client, late)));

    const rows = writes
      .flatMap((w) => w.rows.map((r) => ({ seriesId: w.seriesId, ...r })))
      .sort((a, b) => compareIds(a.seriesId, b.seriesId) || a.hour - b.hour);
    if (rows.length > 0) {
      await client.query(
        `INSERT INTO rollups (series_id, hour, count, last, max, integral)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::numeric[], $5::numeric[], $6::numeric[])
         ON CONFLICT (series_id, hour) DO UPDATE
         SET count = excluded.count, last = excluded.last, max = excluded.max, integral = excluded.integral`,
        columns(rows, (r) => [r.seriesId, r.hour, r.count, r.last.toString(), r.max.toString(), r.integral.toString()]),
      );
    }
    if (latest.length > 0) {
      await client.query(
        `UPDATE series s SET last_time = u.time, last_id = u.id, last_value = u.value
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[]) AS u (series_id, time, id, value)
         WHERE s.id = u.series_id`,
        columns(latest, (l) => [l.seriesId, l.reading.time, l.reading.id, l.reading.value.toString()]),
      );
    }
  }

  /** Rows for series with readings before their latest: the window of hours they change, from stored readings. */
  private async recomputeLate(
    client: pg.PoolClient,
    late: readonly { state: SeriesState; readings: Reading[] }[],
  ): Promise<HeldWrite[]> {
    // The first stored reading after the newest new one closes the window: hours after its hour do not change.
    const next = await client.query<{ series_id: string; time: string }>(
      `SELECT k.series_id, n.time
       FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS k (series_id, time, id)
       CROSS JOIN LATERAL (
         SELECT e.time FROM events e
         WHERE e.series_id = k.series_id AND (e.time, e.id) > (k.time, k.id COLLATE "C")
         ORDER BY e.time, e.id LIMIT 1
       ) n`,
      columns(late, (l) => {
        const newest = l.readings.at(-1) as Reading;
        return [l.state.id, newest.time, newest.id];
      }),
    );
    const nextTime = new Map(next.rows.map((r) => [r.series_id, Number(r.time)]));
    const windows = late.map((l) => {
      const closing = nextTime.get(l.state.id) ?? (l.readings.at(-1) as Reading).time;
      return { seriesId: l.state.id, fromHour: hourOf((l.readings[0] as Reading).time), toHour: hourOf(closing) };
    });

    // For each window: the reading before it, the readings inside it, and the time of the first one after it.
    const found = await client.query<{ series_id: string; part: number; time: string; id: string; value: string }>(
      `WITH w AS (
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS w (series_id, from_time, to_time)
       )
       SELECT w.series_id, 0 AS part, c.time, c.id, c.value FROM w CROSS JOIN LATERAL (
         SELECT e.time, e.id, e.value FROM events e WHERE e.series_id = w.series_id AND e.time < w.from_time
         ORDER BY e.time DESC, e.id DESC LIMIT 1
       ) c
       UNION ALL
       SELECT w.series_id, 1, e.time, e.id, e.value FROM w
       JOIN events e ON e.series_id = w.series_id AND e.time >= w.from_time AND e.time < w.to_time
       UNION ALL
       SELECT w.series_id, 2, n.time, n.id, n.value FROM w CROSS JOIN LATERAL (
         SELECT e.time, e.id, e.value FROM events e WHERE e.series_id = w.series_id AND e.time >= w.to_time
         ORDER BY e.time, e.id LIMIT 1
       ) n`,
      columns(windows, (w) => [w.seriesId, w.fromHour, w.toHour + HOUR_MS]),
    );
    const parts = new Map<string, { carry: Reading | null; readings: Reading[]; next: number | null }>();
    for (const w of windows) parts.set(w.seriesId, { carry: null, readings: [], next: null });
    for (const r of found.rows) {
      const p = parts.get(r.series_id);
      if (!p) continue;
      const reading = { time: Number(r.time), id: r.id, value: BigInt(r.value) };
      if (r.part === 0) p.carry = reading;
      else if (r.part === 1) p.readings.push(reading);
      else p.next = reading.time;
    }

    await client.query(
      `DELETE FROM rollups r USING unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS w (series_id, from_hour, to_hour)
       WHERE r.series_id = w.series_id AND r.hour >= w.from_hour AND r.hour <= w.to_hour`,
      columns(windows, (w) => [w.seriesId, w.fromHour, w.toHour]),
    );
    return windows.map((w) => {
      const p = parts.get(w.seriesId) as { carry: Reading | null; readings: Reading[]; next: number | null };
      p.readings.sort(compareReadings);
      return { seriesId: w.seriesId, rows: heldRows(p.carry, p.readings, w.fromHour, w.toHour, p.next) };
    });
  }

  private async touchServers(client: pg.PoolClient, accepted: readonly UsageEvent[]): Promise<void> {
    const servers = new Map<string, { lastEventTime: number; events: number }>();
    for (const e of accepted) {
      const s = servers.get(e.server);
      if (s) {
        s.events++;
        if (e.time > s.lastEventTime) s.lastEventTime = e.time;
      } else {
        servers.set(e.server, { lastEventTime: e.time, events: 1 });
      }
    }
    if (servers.size === 0) return;
    const names = [...servers.keys()].sort(compareUtf8);
    const now = Date.now();
    await client.query(
      `INSERT INTO servers (server, last_heard, last_event_time, events)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
       ON CONFLICT (server) DO UPDATE
       SET last_heard = greatest(servers.last_heard, excluded.last_heard),
           last_event_time = greatest(servers.last_event_time, excluded.last_event_time),
           events = servers.events + excluded.events`,
      columns(names, (n) => {
        const s = servers.get(n) as { lastEventTime: number; events: number };
        return [n, now, s.lastEventTime, s.events];
      }),
    );
  }

  async currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]> {
    const rows = await this.read<{
      server: string;
      account: string;
      metric: string;
      instance: string;
      last_value: string;
      last_time: string;
    }>(
      `SELECT server, account, metric, instance, last_value, last_time FROM series
       WHERE metric = $1 AND kind <> 'counter' AND last_time IS NOT NULL
         AND ($2::text[] IS NULL OR account = ANY($2::text[]))
         AND ($3::text[] IS NULL OR server = ANY($3::text[]))
       ORDER BY server, account, instance`,
      [query.metric, query.accounts ?? null, query.servers ?? null],
    );
    return rows.map((r) => ({
      server: r.server,
      account: r.account,
      metric: r.metric,
      instance: r.instance,
      value: BigInt(r.last_value),
      time: Number(r.last_time),
    }));
  }

  async rollups(query: RollupQuery): Promise<RollupRow[]> {
    const rows = await this.read<RollupDbRow>(
      `${ROLLUP_SELECT}
       WHERE s.account = $1 AND r.hour >= $2 AND r.hour < $3
         AND ($4::text[] IS NULL OR s.metric = ANY($4::text[]))
         AND ($5::text[] IS NULL OR s.server = ANY($5::text[]))
       ORDER BY s.server, s.metric, s.instance, r.hour`,
      [query.account, query.from, query.to, query.metrics ?? null, query.servers ?? null],
    );
    return rows.map(rollupFromDb);
  }

  async allRollups(): Promise<RollupRow[]> {
    const rows = await this.read<RollupDbRow>(
      `${ROLLUP_SELECT} ORDER BY s.server, s.account, s.metric, s.instance, r.hour`,
    );
    return rows.map(rollupFromDb);
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
   * of hours at a time, so a long series never has to fit in memory.
   */
  async rebuildRollups(): Promise<{ events: number; rollups: number }> {
    this.assertOpen();
    return this.transaction(async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${ROLLUP_LOCK_KEYS})`);
      await client.query("DELETE FROM rollups");
      await client.query(
        `INSERT INTO rollups (series_id, hour, count, sum)
         SELECT e.series_id, e.time - e.time % ${HOUR_MS}, count(*), sum(e.value)
         FROM events e JOIN series s ON s.id = e.series_id
         WHERE s.kind = 'counter'
         GROUP BY 1, 2`,
      );
      await this.rebuildHeld(client);
      const counts = await client.query<{ events: string; rollups: string }>(
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM rollups) AS rollups",
      );
      const c = counts.rows[0];
      return { events: Number(c?.events ?? 0), rollups: Number(c?.rollups ?? 0) };
    });
  }

  private async rebuildHeld(client: pg.PoolClient): Promise<void> {
    const pendingRows: { seriesId: string; row: HeldRow }[] = [];
    const latest: { seriesId: string; reading: Reading }[] = [];
    const flushRows = async (force: boolean) => {
      if (pendingRows.length === 0 || (!force && pendingRows.length < WRITE_ROWS)) return;
      await client.query(
        `INSERT INTO rollups (series_id, hour, count, last, max, integral)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::numeric[], $5::numeric[], $6::numeric[])`,
        columns(pendingRows, ({ seriesId, row: r }) => [
          seriesId,
          r.hour,
          r.count,
          r.last.toString(),
          r.max.toString(),
          r.integral.toString(),
        ]),
      );
      pendingRows.length = 0;
    };
    const flushLatest = async (force: boolean) => {
      if (latest.length === 0 || (!force && latest.length < WRITE_ROWS)) return;
      await client.query(
        `UPDATE series s SET last_time = u.time, last_id = u.id, last_value = u.value
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[]) AS u (series_id, time, id, value)
         WHERE s.id = u.series_id`,
        columns(latest, (l) => [l.seriesId, l.reading.time, l.reading.id, l.reading.value.toString()]),
      );
      latest.length = 0;
    };

    // One series at a time, in (time, id) order: `carry` is the reading before `fromHour`, `readings` those since.
    let seriesId: string | null = null;
    let carry: Reading | null = null;
    let readings: Reading[] = [];
    let fromHour = 0;
    const emit = (toHour: number, nextTime: number | null) => {
      if (seriesId === null) return;
      for (const row of heldRows(carry, readings, fromHour, toHour, nextTime)) pendingRows.push({ seriesId, row });
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

  async stats(): Promise<StoreStats> {
    const [r] = await this.read<{ events: string; series: string; rollups: string }>(
      `SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM series) AS series,
              (SELECT count(*) FROM rollups) AS rollups`,
    );
    return { events: Number(r?.events ?? 0), series: Number(r?.series ?? 0), rollups: Number(r?.rollups ?? 0) };
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

interface RollupDbRow {
  server: string;
  account: string;
  metric: string;
  instance: string;
  kind: MetricKind;
  hour: string;
  count: number;
  sum: string | null;
  last: string | null;
  max: string | null;
  integral: string | null;
}

const ROLLUP_SELECT = `
  SELECT s.server, s.account, s.metric, s.instance, s.kind, r.hour, r.count, r.sum, r.last, r.max, r.integral
  FROM rollups r JOIN series s ON s.id = r.series_id`;

function rollupFromDb(r: RollupDbRow): RollupRow {
  return {
    server: r.server,
    account: r.account,
    metric: r.metric,
    instance: r.instance,
    kind: r.kind,
    hour: Number(r.hour),
    count: r.count,
    sum: bigOrNull(r.sum),
    last: bigOrNull(r.last),
    max: bigOrNull(r.max),
    integral: bigOrNull(r.integral),
  };
}

const bigOrNull = (value: string | null): bigint | null => (value === null ? null : BigInt(value));

const maxOf = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** Orders bigserial ids, which pg returns as decimal strings. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function eventKey(e: { server: string; id: string }): string {
  return JSON.stringify([e.server, e.id]);
}

function seriesKey(e: { server: string; account: string; metric: string; instance: string }): string {
  return JSON.stringify([e.server, e.account, e.metric, e.instance]);
}

function seriesOf(series: Map<string, SeriesState>, e: UsageEvent): SeriesState {
  const s = series.get(seriesKey(e));
  if (!s) throw new AppError("INTERNAL", `series of event ${e.id} from ${e.server} was not resolved`);
  return s;
}

/** Turns rows into one array per column, the parameters of an `unnest($1, $2, …)`. */
function columns<T>(rows: readonly T[], row: (item: T) => unknown[]): Columns {
  const cols: Columns = [];
  for (const item of rows) {
    const values = row(item);
    for (const [i, v] of values.entries()) {
      const col = cols[i] ?? [];
      col.push(v);
      cols[i] = col;
    }
  }
  return cols;
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
