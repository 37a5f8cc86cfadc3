// Ingest on PostgreSQL, in two transactions the store opens. Every multi-row statement takes its rows in one global
// order and the phases always run in the same order, so concurrent batches on several nodes wait for each other but
// never deadlock.
//
// prepare, a short transaction of its own: 1. kinds (the first stored wins), 2. series created if new. What it
// creates is committed at once, so a batch on another node that needs the same new series waits for this short
// transaction, not for this whole batch; a batch that then fails leaves its new series without events, as if
// none had come.
// insert, the batch's transaction: 3. series read (levels and states locked in id order), 4. events (the primary key
// drops what any node stored before), 5. rollups (counters added; levels and states recomputed for the hours their
// readings change), their days (rollup-days.ts) and latest readings, 6. servers.

import type pg from "pg";
import { AppError } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { compareUtf8, dimsKey, dimsOfKey, type Reading, seriesId } from "../../domain/rollup.js";
import { hourOf } from "../../domain/time.js";
import type { InsertOutcome } from "../port.js";
import { columns, compareIds, type SeriesDbRow } from "./columns.js";
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

/** An event of the batch to store: the first with its (server, id), of its metric's stored kind. */
interface Candidate {
  readonly event: UsageEvent;
  /** seriesId(event), computed once. */
  readonly series: string;
}

/** A candidate whose series the batch's transaction has read. */
interface Placed {
  readonly event: UsageEvent;
  readonly state: SeriesState;
}

/** A batch checked against the stored kinds, deduplicated within itself, its new series created. */
export interface PreparedBatch {
  readonly candidates: readonly Candidate[];
  readonly duplicates: number;
  readonly rejected: readonly { index: number; reason: string }[];
}

const SERIES_CACHE_LIMIT = 200_000;

export class PostgresIngest {
  /** Kinds never change once stored, and series are never deleted, so what a committed batch learned is kept. */
  private readonly kinds = new Map<string, MetricKind>();
  private readonly seriesIds = new Map<string, { readonly id: string; readonly kind: MetricKind }>();

  /** Keeps what a committed transaction learned; the series cache is emptied when it would grow past its bound. */
  remember(learned: Learned): void {
    for (const [name, kind] of learned.kinds) this.kinds.set(name, kind);
    if (this.seriesIds.size + learned.series.size > SERIES_CACHE_LIMIT) this.seriesIds.clear();
    for (const [key, series] of learned.series) this.seriesIds.set(key, series);
  }

  /** Phases 1 and 2 in the caller's short transaction; what it learns goes in `learned`, to keep once it commits. */
  async prepare(client: pg.PoolClient, events: readonly UsageEvent[], learned: Learned): Promise<PreparedBatch> {
    // 1. Kinds: the first kind a metric was stored with wins, and within a batch the first event's.
    const kinds = await this.resolveKinds(client, events, learned.kinds);
    const rejected: { index: number; reason: string }[] = [];
    const seen = new Set<string>();
    const candidates: Candidate[] = [];
    let duplicates = 0;
    for (const [index, e] of events.entries()) {
      const kind = kinds.get(e.metric) as MetricKind;
      const key = eventKey(e);
      if (kind !== e.kind) {
        rejected.push({ index, reason: `kind "${e.kind}" contradicts ${e.metric}, stored as a ${kind}` });
      } else if (seen.has(key)) {
        duplicates++;
      } else {
        seen.add(key);
        candidates.push({ event: e, series: seriesId(e) });
      }
    }
    // 2. Series: created if new, their ids learned.
    await this.createSeries(client, candidates, learned.series);
    return { candidates, duplicates, rejected };
  }

  /** Phases 3 to 6 in the caller's transaction, after prepare's has committed; what it learns goes in `learned`. */
  /** `source`: the subscription the events came from, or null for events measured here. */
  async insert(
    client: pg.PoolClient,
    batch: PreparedBatch,
    learned: Learned,
    source: string | null = null,
  ): Promise<InsertOutcome> {
    let { duplicates } = batch;
    const { rejected } = batch;
    if (batch.candidates.length === 0) return { accepted: 0, duplicates, rejected };

    // 3. Series: levels and states locked for the rest of the batch.
    const series = await this.resolveSeries(client, batch.candidates, learned.series);
    const candidates = batch.candidates.map((c) => placed(series, c));

    // 4. Events: the primary key drops what any node stored before.
    candidates.sort((a, b) => compareUtf8(a.event.server, b.event.server) || compareUtf8(a.event.id, b.event.id));
    const inserted = await client.query(
      `INSERT INTO events (series_id, server, id, time, value, dims, source)
       SELECT *, $7::text FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::numeric[], $6::jsonb[])
       ON CONFLICT (server, id) DO NOTHING`,
      [
        ...columns(candidates, ({ event: e, state }) => [
          state.id,
          e.server,
          e.id,
          e.time,
          e.value.toString(),
          e.dims ? JSON.stringify(e.dims) : null,
        ]),
        source,
      ],
    );
    const accepted = await this.storedHere(client, candidates, inserted.rowCount ?? 0);
    duplicates += candidates.length - accepted.length;

    // 5. Rollups and the latest readings, then 6. the servers.
    await this.addCounters(client, accepted);
    await this.recomputeHeld(client, accepted);
    await this.touchServers(client, accepted);
    return { accepted: accepted.length, duplicates, rejected };
  }

  /**
   * The candidates this transaction stored, `count` of them: all or none without a read, as nearly every batch is;
   * otherwise those whose stored row carries this transaction's id (the others were stored before).
   */
  private async storedHere(
    client: pg.PoolClient,
    candidates: readonly Placed[],
    count: number,
  ): Promise<readonly Placed[]> {
    if (count === candidates.length) return candidates;
    if (count === 0) return [];
    const mine = await client.query<{ server: string; id: string }>(
      `SELECT e.server, e.id FROM events e
       JOIN unnest($1::text[], $2::text[]) AS k (server, id) ON e.server = k.server COLLATE "C" AND e.id = k.id COLLATE "C"
       WHERE e.xid = pg_current_xact_id()`,
      columns(candidates, ({ event: e }) => [e.server, e.id]),
    );
    const stored = new Set(mine.rows.map((r) => eventKey(r)));
    return candidates.filter((c) => stored.has(eventKey(c.event)));
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

  /** Creates the series of the batch that are not known here, learning the ids of those it made. */
  private async createSeries(
    client: pg.PoolClient,
    candidates: readonly Candidate[],
    learned: Learned["series"],
  ): Promise<void> {
    const unknown = new Map<string, Candidate>();
    for (const c of candidates) {
      if (!this.seriesIds.has(c.series) && !unknown.has(c.series)) unknown.set(c.series, c);
    }
    if (unknown.size === 0) return;
    const made = await client.query<SeriesDbRow>(
      `INSERT INTO series (server, account, metric, instance, dims, kind)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
       ON CONFLICT (server, account, metric, instance, dims) DO NOTHING
       RETURNING id, server, account, metric, instance, dims, kind`,
      columns(sortedByKey([...unknown.values()]), ({ item, key }) => [...key, item.event.kind]),
    );
    for (const r of made.rows) learned.set(seriesId({ ...r, dims: dimsOfKey(r.dims) }), { id: r.id, kind: r.kind });
  }

  /** The batch's series by seriesId, all of them stored by prepare; levels and states locked, with their latest reading. */
  private async resolveSeries(
    client: pg.PoolClient,
    candidates: readonly Candidate[],
    learned: Learned["series"],
  ): Promise<Map<string, SeriesState>> {
    const firsts = new Map<string, Candidate>();
    for (const c of candidates) if (!firsts.has(c.series)) firsts.set(c.series, c);
    const series = new Map<string, SeriesState>();
    const held: Candidate[] = [];
    const unknown: Candidate[] = [];
    for (const [key, c] of firsts) {
      const known = this.seriesIds.get(key);
      if (isHeld(c.event.kind)) held.push(c);
      else if (known) series.set(key, { ...known, last: null });
      else unknown.push(c);
    }
    const select = async (list: Candidate[], lock: boolean) => {
      if (list.length === 0) return;
      const sorted = sortedByKey(list);
      // Each row names its key by its place in the list: the key's five columns need not come back.
      const found = await client.query<{
        o: string;
        id: string;
        kind: MetricKind;
        last_time: string | null;
        last_id: string | null;
        last_value: string | null;
      }>(
        `SELECT k.o, s.id, s.kind, s.last_time, s.last_id, s.last_value
         FROM series s
         JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
           WITH ORDINALITY AS k (server, account, metric, instance, dims, o)
           ON s.server = k.server COLLATE "C" AND s.account = k.account COLLATE "C"
          AND s.metric = k.metric COLLATE "C" AND s.instance = k.instance COLLATE "C" AND s.dims = k.dims COLLATE "C"
         ORDER BY s.id${lock ? " FOR UPDATE OF s" : ""}`,
        columns(sorted, ({ key }) => key),
      );
      for (const r of found.rows) {
        const last =
          r.last_time === null || r.last_id === null || r.last_value === null
            ? null
            : { time: Number(r.last_time), id: r.last_id, value: BigInt(r.last_value) };
        const key = (sorted[Number(r.o) - 1] as { item: Candidate }).item.series;
        series.set(key, { id: r.id, kind: r.kind, last });
        learned.set(key, { id: r.id, kind: r.kind });
      }
    };
    // Levels and states are locked, in id order; counters only add to their rollups and need no lock.
    await select(held, true);
    await select(unknown, false);
    return series;
  }

  private async addCounters(client: pg.PoolClient, accepted: readonly Placed[]): Promise<void> {
    const deltas = new Map<string, { seriesId: string; hour: number; count: number; sum: bigint }>();
    for (const { event: e, state } of accepted) {
      if (isHeld(e.kind)) continue;
      const seriesId = state.id;
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
  private async recomputeHeld(client: pg.PoolClient, accepted: readonly Placed[]): Promise<void> {
    const bySeries = new Map<string, { state: SeriesState; readings: Reading[] }>();
    for (const { event: e, state } of accepted) {
      if (!isHeld(e.kind)) continue;
      const entry = bySeries.get(state.id) ?? { state, readings: [] };
      entry.readings.push({ time: e.time, id: e.id, value: e.value });
      bySeries.set(state.id, entry);
    }
    if (bySeries.size > 0) await writeHeldRollups(client, [...bySeries.values()]);
  }

  private async touchServers(client: pg.PoolClient, accepted: readonly Placed[]): Promise<void> {
    const servers = new Map<string, { lastEventTime: number; events: number }>();
    for (const { event: e } of accepted) {
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

/** (server, id): names hold no control characters, so NUL cannot occur in either. */
function eventKey(e: { server: string; id: string }): string {
  return `${e.server}\u0000${e.id}`;
}

/** A series' stored key columns: server, account, metric, instance, dims. */
function seriesKeyOf(e: UsageEvent): string[] {
  return [e.server, e.account, e.metric, e.instance, dimsKey(e.dims)];
}

/**
 * Candidates with their series' stored key columns, in the order of those keys: the one global order in which
 * series rows are taken.
 */
function sortedByKey<T extends { readonly event: UsageEvent }>(items: readonly T[]): { item: T; key: string[] }[] {
  const keyed = items.map((item) => ({ item, key: seriesKeyOf(item.event) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < 5; i++) {
      const order = compareUtf8(a.key[i] as string, b.key[i] as string);
      if (order !== 0) return order;
    }
    return 0;
  });
  return keyed;
}

/** A candidate with its series, resolved once. */
function placed(series: Map<string, SeriesState>, c: Candidate): Placed {
  const state = series.get(c.series);
  if (!state) throw new AppError("INTERNAL", `series of event ${c.event.id} from ${c.event.server} was not resolved`);
  return { event: c.event, state };
}
