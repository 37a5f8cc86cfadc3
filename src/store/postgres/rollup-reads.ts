// Rollup reads on PostgreSQL: the rows stored, with the held rows closed and the hours between readings filled in
// by fillHeldGaps, as on SQLite. Each read is one statement, so it sees one snapshot of the rollups.

import type pg from "pg";
import { dimsOfKey, fillHeldGaps, type RollupRow, seriesId, sortRollupsByAccount } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import type { AccountsAfterQuery, AccountsRollupQuery, RollupQuery } from "../port.js";
import type { SeriesDbRow } from "./columns.js";

/** Runs one read-only statement. */
export type Read = <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) => Promise<R[]>;

interface RollupDbRow extends Omit<SeriesDbRow, "id"> {
  hour: string;
  count: number;
  sum: string | null;
  last: string | null;
  max: string | null;
  integral: string | null;
  last_time: string | null;
}

const COLUMNS = "s.server, s.account, s.metric, s.instance, s.dims, s.kind";
const ROW_COLUMNS = "r.hour, r.count, r.sum, r.last, r.max, r.integral, r.last_time";

/** One account's rollups in the hours [from, to), the hours a held series spends between readings too. */
export async function selectRollupRange(read: Read, query: RollupQuery): Promise<RollupRow[]> {
  return selectFilled(read, [query.account], query.from, query.to, query.metrics ?? null, query.servers ?? null);
}

/** The rows of several accounts, as rollupPages pages them. */
export async function selectAccountsRollups(read: Read, query: AccountsRollupQuery): Promise<RollupRow[]> {
  if (query.accounts.length === 0) return [];
  const rows = await selectFilled(read, query.accounts, query.from, query.to, query.metrics, null);
  return sortRollupsByAccount(rows);
}

/** The next `limit` accounts after `after` (null: from the first) with a series of the metrics. */
export async function selectAccountsAfter(read: Read, query: AccountsAfterQuery): Promise<string[]> {
  const { metrics, after, limit } = query;
  // Two forms, not "$1 IS NULL OR account > $1", so that each page starts by a seek in series_account.
  const found = await read<{ account: string }>(
    `SELECT DISTINCT account FROM series WHERE ${after === null ? "" : "account > $3 AND "}metric = ANY($1::text[])
     ORDER BY account LIMIT $2`,
    after === null ? [metrics, limit] : [metrics, limit, after],
  );
  return found.map((r) => r.account);
}

/** The accounts' rows in the hours [from, to), of the metrics and servers given (null: all), filled in. */
async function selectFilled(
  read: Read,
  accounts: readonly string[],
  from: number,
  to: number,
  metrics: readonly string[] | null,
  servers: readonly string[] | null,
): Promise<RollupRow[]> {
  // Part 0: the rows in the range. Part 1, per held series: its latest row before the range, and whether a row
  // follows the range (`more`): what fillHeldGaps needs to fill the range's hours between readings. Each series'
  // rows are found through the primary key, whatever the estimates: OFFSET 0 keeps PostgreSQL from joining them
  // the other way, which, with statistics not yet gathered after a bulk load, it did by scanning every rollup.
  const rows = await read<RollupDbRow & { part: number; more: boolean | null }>(
    `WITH s AS (
       SELECT id, server, account, metric, instance, dims, kind FROM series
       WHERE account = ANY($1::text[]) AND ($4::text[] IS NULL OR metric = ANY($4::text[]))
         AND ($5::text[] IS NULL OR server = ANY($5::text[]))
     )
     SELECT 0 AS part, ${COLUMNS}, ${ROW_COLUMNS}, NULL::boolean AS more
     FROM s CROSS JOIN LATERAL (
       SELECT * FROM rollups r WHERE r.series_id = s.id AND r.hour >= $2 AND r.hour < $3 OFFSET 0
     ) r
     UNION ALL
     SELECT 1, ${COLUMNS}, b.hour, 0, NULL, b.last, b.last, NULL, NULL,
       EXISTS (SELECT 1 FROM rollups a WHERE a.series_id = s.id AND a.hour >= $3)
     FROM s LEFT JOIN LATERAL (
       SELECT r.hour, r.last FROM rollups r WHERE r.series_id = s.id AND r.hour < $2 ORDER BY r.hour DESC LIMIT 1
     ) b ON true
     WHERE s.kind <> 'counter'`,
    [accounts, from, to, metrics, servers],
  );
  const stored = rows.filter((r) => r.part === 0);
  const before = new Map<string, RollupRow>();
  const after = new Set<string>();
  for (const edge of rows) {
    if (edge.part !== 1) continue;
    const row = rollupFromDb(edge);
    if (edge.hour !== null) before.set(seriesId(row), row);
    if (edge.more) after.add(seriesId(row));
  }
  return fillHeldGaps(stored.map(rollupFromDb), { from, to, before, after }, openAtOf(stored));
}

/** Every rollup row, in the order computeRollups gives them, the hours between readings filled in. */
export async function selectAllRollups(read: Read): Promise<RollupRow[]> {
  const rows = await read<RollupDbRow>(
    `SELECT ${COLUMNS}, ${ROW_COLUMNS} FROM rollups r JOIN series s ON s.id = r.series_id
     ORDER BY s.server, s.account, s.metric, s.instance, s.dims, r.hour`,
  );
  return fillHeldGaps(rows.map(rollupFromDb), undefined, openAtOf(rows));
}

/** How many rollup rows there are once the hours between readings are filled in, without filling them. */
export async function countRollups(read: Read): Promise<number> {
  const [r] = await read<{ n: string }>(
    `SELECT coalesce(sum(n), 0) AS n FROM (
       SELECT CASE WHEN s.kind = 'counter' THEN count(*) ELSE (max(r.hour) - min(r.hour)) / ${HOUR_MS} + 1 END AS n
       FROM rollups r JOIN series s ON s.id = r.series_id GROUP BY r.series_id, s.kind
     ) per_series`,
  );
  return Number(r?.n ?? 0);
}

function openAtOf(rows: readonly RollupDbRow[]): Float64Array {
  return Float64Array.from(rows, (r) => (r.last_time === null ? Number.NaN : Number(r.last_time)));
}

function rollupFromDb(r: RollupDbRow): RollupRow {
  return {
    server: r.server,
    account: r.account,
    metric: r.metric,
    instance: r.instance,
    dims: dimsOfKey(r.dims),
    kind: r.kind,
    hour: Number(r.hour),
    count: r.count,
    sum: bigOrNull(r.sum),
    last: bigOrNull(r.last),
    max: bigOrNull(r.max),
    integral: bigOrNull(r.integral),
  };
}

export const bigOrNull = (value: string | null): bigint | null => (value === null ? null : BigInt(value));
