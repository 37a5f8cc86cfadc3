// The events as a feed, in commit order although several nodes write at once, and each subscription's position.
//
// Every event records the id of the transaction that stored it (xid8) and a sequence number. A reader first takes
// the oldest transaction still in flight (the snapshot's xmin), then serves only events of older transactions, in
// (xid, seq) order: those are all finished, and any transaction still to commit has an xid at least that xmin, so
// it sorts after everything served and a cursor never passes an event that commits later.

import type pg from "pg";
import { AppError } from "../../domain/errors.js";
import type { MetricKind } from "../../domain/metric.js";
import type { EventSource, FeedFilter, FeedPage } from "../port.js";
import { sourceMoved } from "../source-moved.js";

export const EVENT_FEED_MIGRATIONS = [
  {
    version: 200,
    sql: `
      -- Rows stored before get this migration's transaction id, which sorts before every later one.
      ALTER TABLE events
        ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        ADD COLUMN seq bigserial,
        -- The subscription that brought the event; null when this node measured it (origin).
        ADD COLUMN source text;
      CREATE INDEX events_feed ON events (xid, seq);
      CREATE TABLE source_positions (
        name text PRIMARY KEY,
        position text NOT NULL,
        updated_at bigint NOT NULL
      );
    `,
  },
];

type Query = <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) => Promise<R[]>;

/**
 * First in the batch's transaction: the source's new position, if it still stands where the batch was read. The row
 * lock makes a second node's batch wait here, then find the position moved, before it writes anything.
 */
export async function recordSourcePosition(client: pg.PoolClient, source: EventSource): Promise<void> {
  const moved = await client.query(
    `INSERT INTO source_positions (name, position, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
     WHERE source_positions.position IS NOT DISTINCT FROM $4::text`,
    [source.name, source.position, Date.now(), source.after],
  );
  if (moved.rowCount !== 1) throw sourceMoved(source);
}

export async function selectSourcePosition(query: Query, name: string): Promise<string | null> {
  const rows = await query<{ position: string }>("SELECT position FROM source_positions WHERE name = $1", [name]);
  return rows[0]?.position ?? null;
}

interface FeedRow {
  xid: string;
  seq: string;
  server: string;
  id: string;
  time: string;
  value: string;
  dims: Record<string, string> | null;
  account: string;
  metric: string;
  instance: string;
  kind: MetricKind;
}

/** A cursor is "xid.seq" of the last event read or skipped. */
export async function selectEventsAfter(
  query: Query,
  cursor: string | null,
  limit: number,
  filter: FeedFilter,
): Promise<FeedPage> {
  const [xid, seq] = parseCursor(cursor);
  // Taken before the events are read, in a statement of its own: see the top of the file.
  const [snapshot] = await query<{ xmin: string }>("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin");
  const xmin = snapshot?.xmin as string;
  const rows = await query<FeedRow>(
    `SELECT e.xid::text AS xid, e.seq, e.server, e.id, e.time, e.value, e.dims,
            s.account, s.metric, s.instance, s.kind
     FROM events e JOIN series s ON s.id = e.series_id
     WHERE (e.xid, e.seq) > ($1::xid8, $2::bigint) AND e.xid < $3::xid8
       AND (NOT $4::boolean OR e.source IS NULL)
       AND ($5::text[] IS NULL OR e.server = ANY($5::text[]))
     ORDER BY e.xid, e.seq
     LIMIT $6`,
    [xid, seq, xmin, filter.originOnly, filter.servers, limit + 1],
  );
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page.at(-1);
  const next = last ? `${last.xid}.${last.seq}` : cursor;
  // The sequence is global across nodes: what was taken after the last event read is an estimate, enough for a lag.
  const tail = more
    ? await query<{ remaining: string }>(
        "SELECT greatest(last_value - $1::bigint, 1) AS remaining FROM events_seq_seq",
        [(last as FeedRow).seq],
      )
    : [];
  return {
    events: page.map((r) => ({
      id: r.id,
      server: r.server,
      time: Number(r.time),
      account: r.account,
      metric: r.metric,
      kind: r.kind,
      value: BigInt(r.value),
      instance: r.instance,
      dims: r.dims,
    })),
    next,
    more,
    remaining: Number(tail[0]?.remaining ?? 0),
  };
}

function parseCursor(cursor: string | null): [string, string] {
  if (cursor === null || cursor === "") return ["0", "0"];
  const m = /^(\d{1,20})\.(\d{1,19})$/.exec(cursor);
  if (!m) throw new AppError("VALIDATION", `after "${cursor}" is not a cursor of this feed`);
  return [m[1] as string, m[2] as string];
}
