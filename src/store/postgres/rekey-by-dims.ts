// Series are keyed by their events' kept dims (rollup.ts, ROLLUP_DIMS). Events stored before that, or under an
// older list of kept dims, sit in the series of their other fields: a rebuild moves each to the series its dims name.

import type pg from "pg";
import { type Dims, dimsKey } from "../../domain/rollup.js";

interface Placement {
  series_id: string;
  server: string;
  account: string;
  metric: string;
  instance: string;
  kind: string;
  series_dims: string;
  dims: Dims | null;
}

/** Moves events to the series their kept dims name; empties the latest reading of series left with no event. */
export async function rekeyByDims(client: pg.PoolClient): Promise<void> {
  const placements = await client.query<Placement>(
    `SELECT DISTINCT e.series_id, s.server, s.account, s.metric, s.instance, s.kind, s.dims AS series_dims, e.dims
     FROM events e JOIN series s ON s.id = e.series_id
     WHERE e.dims IS NOT NULL OR s.dims <> ''`,
  );
  const left = new Set<string>();
  for (const p of placements.rows) {
    const key = dimsKey(p.dims);
    if (key === p.series_dims) continue;
    const target = await client.query<{ id: string }>(
      `WITH made AS (
         INSERT INTO series (server, account, metric, instance, dims, kind) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (server, account, metric, instance, dims) DO NOTHING RETURNING id
       )
       SELECT id FROM made UNION ALL
       SELECT id FROM series WHERE server = $1 AND account = $2 AND metric = $3 AND instance = $4 AND dims = $5`,
      [p.server, p.account, p.metric, p.instance, key, p.kind],
    );
    await client.query(
      "UPDATE events SET series_id = $1 WHERE series_id = $2 AND dims IS NOT DISTINCT FROM $3::jsonb",
      [target.rows[0]?.id, p.series_id, p.dims === null ? null : JSON.stringify(p.dims)],
    );
    left.add(p.series_id);
  }
  if (left.size === 0) return;
  // The rebuild sets the latest reading of every series with readings; one left empty must not keep its old one.
  await client.query(
    `UPDATE series s SET last_time = NULL, last_id = NULL, last_value = NULL
     WHERE s.id = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM events e WHERE e.series_id = s.id)`,
    [[...left]],
  );
}
