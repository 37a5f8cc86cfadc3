// Ingest on PostgreSQL: the phases of one batch, in one transaction the store opens. Every multi-row statement
// takes its rows in one global order and the phases always run in the same order, so concurrent batches on several
// nodes wait for each other but never deadlock.
//
// 1. kinds (the first stored wins), 2. series (created if new; levels and states locked in id order), 3. events
// (the primary key drops what any node stored before), 4. rollups (counters added; levels and states recomputed
// for the hours their readings change), their days (rollup-days.ts) and latest readings, 5. servers.

import type pg from "pg";
import { AppError } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { compareUtf8, dimsKey, dimsOfKey, type Reading, seriesId } from "../../domain/rollup.js";
import { hourOf } from "../../domain/time.js";
import type { InsertOutcome } from "../port.js";
import { columns, compareIds } from "./columns.js";
import { writeHeldRollups } from "./held-rollups.js";
import { addCounterDays } from "./rollup-days.js";

/** The part of a series the batch needs: its id and, for levels and states, its latest reading. */
interface SeriesState {
  readonly id: string;
  readonly kind: MetricKind;
  readonly last: Reading | null;
}

/** What a batch learned about metrics and series, kept only once the batch has committed. */
export interface Learned {
  readonly kinds: Map<string, MetricKind>;
  readonly series: Map<string, { readonly id: string; readonly kind: MetricKind }>;
}

const SERIES_CACHE_LIMIT = 200_000;
/** The keys of the lock between ingest (shared) and rebuildRollups (exclusive), on the schema in use. */

export class PostgresIngest {
  /** Kinds never change once stored, and series are never deleted, so what a committed batch learned is kept. */
  private readonly kinds = new Map<string, MetricKind>();
  private readonly seriesIds = new Map<string, { readonly id: string; readonly kind: MetricKind }>();

  /** Keeps what a committed batch learned; the series cache is emptied when it would grow past its bound. */
  remember(learned: Learned): void {
    for (const [name, kind] of learned.kinds) this.kinds.set(name, kind);
    if (this.seriesIds.size + learned.series.size > SERIES_CACHE_LIMIT) this.seriesIds.clear();
    for (const [key, series] of learned.series) this.seriesIds.set(key, series);
  }

  /** One batch in the caller's transaction; what it learns goes in `learned`, to keep once the batch commits. */
  /** `source`: the subscription the events came from, or null for events measured here. */
  async insert(
    client: pg.PoolClient,
    events: readonly UsageEvent[],
    learned: Learned,
    source: string | null = null,
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
      `INSERT INTO events (series_id, server, id, time, value, dims, source)
       SELECT *, $7::text FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::numeric[], $6::jsonb[])
       ON CONFLICT (server, id) DO NOTHING
       RETURNING server, id`,
      columns(candidates, (e) => [
        seriesOf(series, e).id,
        e.server,
        e.id,
        e.time,
        e.value.toString(),
        e.dims ? JSON.stringify(e.dims) : null,
      ]).concat([source]),
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
    for (const e of events) if (!keys.has(seriesId(e))) keys.set(seriesId(e), e);
    const all = [...keys.values()].sort(
      (a, b) =>
        compareUtf8(a.server, b.server) ||
        compareUtf8(a.account, b.account) ||
        compareUtf8(a.metric, b.metric) ||
        compareUtf8(a.instance, b.instance) ||
        compareUtf8(dimsKey(a.dims), dimsKey(b.dims)),
    );
    const key = (e: UsageEvent) => [e.server, e.account, e.metric, e.instance, dimsKey(e.dims)];
    const unknown = all.filter((e) => !this.seriesIds.has(seriesId(e)));
    if (unknown.length > 0) {
      await client.query(
        `INSERT INTO series (server, account, metric, instance, dims, kind)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         ON CONFLICT (server, account, metric, instance, dims) DO NOTHING`,
        columns(unknown, (e) => [...key(e), e.kind]),
      );
    }
    const series = new Map<string, SeriesState>();
    for (const e of all) {
      const known = this.seriesIds.get(seriesId(e));
      if (known && !isHeld(known.kind)) series.set(seriesId(e), { ...known, last: null });
    }
    const select = async (list: UsageEvent[], lock: boolean) => {
      if (list.length === 0) return;
      const found = await client.query<{
        id: string;
        server: string;
        account: string;
        metric: string;
        instance: string;
        dims: string;
        kind: MetricKind;
        last_time: string | null;
        last_id: string | null;
        last_value: string | null;
      }>(
        `SELECT s.id, s.server, s.account, s.metric, s.instance, s.dims, s.kind, s.last_time, s.last_id, s.last_value
         FROM series s
         JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS k (server, account, metric, instance, dims)
           ON s.server = k.server COLLATE "C" AND s.account = k.account COLLATE "C"
          AND s.metric = k.metric COLLATE "C" AND s.instance = k.instance COLLATE "C" AND s.dims = k.dims COLLATE "C"
         ORDER BY s.id${lock ? " FOR UPDATE OF s" : ""}`,
        columns(list, key),
      );
      for (const r of found.rows) {
        const last =
          r.last_time === null || r.last_id === null || r.last_value === null
            ? null
            : { time: Number(r.last_time), id: r.last_id, value: BigInt(r.last_value) };
        const stored = seriesId({ ...r, dims: dimsOfKey(r.dims) });
        series.set(stored, { id: r.id, kind: r.kind, last });
        learned.set(stored, { id: r.id, kind: r.kind });
      }
    };
    // Levels and states are locked, in id order; counters only add to their rollups and need no lock.
    await select(
      all.filter((e) => isHeld(e.kind)),
      true,
    );
    await select(
      all.filter((e) => !series.has(seriesId(e))),
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
    await addCounterDays(client, rows);
  }

  /** The batch's readings of each level or state series, written to its rollups (held-rollups.ts). */
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
    if (bySeries.size > 0) await writeHeldRollups(client, [...bySeries.values()]);
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
}

function eventKey(e: { server: string; id: string }): string {
  return JSON.stringify([e.server, e.id]);
}

function seriesOf(series: Map<string, SeriesState>, e: UsageEvent): SeriesState {
  const s = series.get(seriesId(e));
  if (!s) throw new AppError("INTERNAL", `series of event ${e.id} from ${e.server} was not resolved`);
  return s;
}
