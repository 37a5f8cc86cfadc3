// Usage by UTC day on PostgreSQL: rollup_days keeps one row per (series, day with events), derived from the hourly
// rollups of that day in the transaction that writes them, so that a month of a series is read as 31 rows.
//
// A held series' day row is closed at the day's end: its integral runs from the day's start (or the series' first
// reading) to its end, each reading held until the next and the day's latest to the end. Nothing after the day
// changes it, so a batch recomputes only the days whose hourly rows it wrote; the days between readings have no row
// and a read fills them (fillHeldDays).

import type pg from "pg";
import { checkWholeDays, DAY_MS, type DayRow, dayOf, fillHeldDays } from "../../domain/day-usage.js";
import { dimsOfKey } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import type { AccountsRollupQuery } from "../port.js";
import { columns, compareIds, type SeriesDbRow } from "./columns.js";
import { bigOrNull, type Read } from "./rollup-reads.js";

export const ROLLUP_DAYS_TABLE = `
  CREATE TABLE rollup_days (
    series_id bigint NOT NULL,
    day bigint NOT NULL,
    count integer NOT NULL,
    sum numeric,
    integral numeric,
    last numeric,
    PRIMARY KEY (series_id, day)
  )`;

/**
 * The day rows of the (series_id, day) pairs `touched` selects, from the hourly rollups of each day: the stored
 * rows, each closed until the next row's hour (or the day's end), and the value held in from the latest row before
 * the day until the day's first row. A stored row is open at last_time, or closed when written before rows were
 * kept open. Counters' rows simply add up.
 */
export function daysOfRollups(touched: string): string {
  return `
    WITH t (series_id, day) AS (${touched}),
    h AS (
      SELECT r.series_id, t.day, r.hour, r.count, r.sum, r.last, r.integral,
        coalesce(r.last_time, r.hour + ${HOUR_MS}) AS open_at, lead(r.hour) OVER w AS next_hour
      FROM t JOIN rollups r ON r.series_id = t.series_id AND r.hour >= t.day AND r.hour < t.day + ${DAY_MS}
      WINDOW w AS (PARTITION BY r.series_id, t.day ORDER BY r.hour)
    ),
    d AS (
      SELECT series_id, day, sum(count) AS count, sum(sum) AS sum,
        sum(integral + last * (coalesce(next_hour, day + ${DAY_MS}) - open_at)) AS integral,
        min(hour) AS first_hour, min(last) FILTER (WHERE next_hour IS NULL) AS last
      FROM h GROUP BY series_id, day
    )
    SELECT d.series_id, d.day, d.count, d.sum, d.integral + coalesce(b.last * (d.first_hour - d.day), 0), d.last
    FROM d LEFT JOIN LATERAL (
      SELECT p.last FROM rollups p
      WHERE d.last IS NOT NULL AND p.series_id = d.series_id AND p.hour < d.day ORDER BY p.hour DESC LIMIT 1
    ) b ON true`;
}

/** Every day row again, from every hourly rollup: for the migration that adds the table and for a rebuild. */
export const INSERT_ALL_DAYS = `INSERT INTO rollup_days (series_id, day, count, sum, integral, last)
  ${daysOfRollups(`SELECT DISTINCT series_id, hour - hour % ${DAY_MS} FROM rollups`)}`;

/** Adds a batch's counter events to their days, as addCounters adds them to their hours. */
export async function addCounterDays(
  client: pg.PoolClient,
  hours: readonly { seriesId: string; hour: number; count: number; sum: bigint }[],
): Promise<void> {
  const days = new Map<string, { seriesId: string; day: number; count: number; sum: bigint }>();
  for (const h of hours) {
    const day = dayOf(h.hour);
    const key = `${h.seriesId}:${day}`;
    const d = days.get(key);
    if (d) {
      d.count += h.count;
      d.sum += h.sum;
    } else days.set(key, { seriesId: h.seriesId, day, count: h.count, sum: h.sum });
  }
  const rows = [...days.values()].sort((a, b) => compareIds(a.seriesId, b.seriesId) || a.day - b.day);
  await client.query(
    `INSERT INTO rollup_days (series_id, day, count, sum)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::numeric[])
     ON CONFLICT (series_id, day) DO UPDATE
     SET count = rollup_days.count + excluded.count, sum = rollup_days.sum + excluded.sum`,
    columns(rows, (d) => [d.seriesId, d.day, d.count, d.sum.toString()]),
  );
}

/** Recomputes the days of the held rows a batch wrote, once they are written; their series are locked. */
export async function writeHeldDays(client: pg.PoolClient, hours: readonly { seriesId: string; hour: number }[]) {
  const touched = new Map<string, { seriesId: string; day: number }>();
  for (const h of hours) touched.set(`${h.seriesId}:${dayOf(h.hour)}`, { seriesId: h.seriesId, day: dayOf(h.hour) });
  const days = [...touched.values()].sort((a, b) => compareIds(a.seriesId, b.seriesId) || a.day - b.day);
  await client.query(
    `INSERT INTO rollup_days (series_id, day, count, sum, integral, last)
     ${daysOfRollups("SELECT * FROM unnest($1::bigint[], $2::bigint[])")}
     ON CONFLICT (series_id, day) DO UPDATE
     SET count = excluded.count, integral = excluded.integral, last = excluded.last`,
    columns(days, (d) => [d.seriesId, d.day]),
  );
}

/**
 * Drops the day rows of the days a late batch recomputes, with their hourly rows: a day left without a reading has
 * no row. Only rows written before held rows were kept open (hours between readings had rows then) can leave one.
 */
export async function deleteHeldDays(
  client: pg.PoolClient,
  windows: readonly { seriesId: string; fromHour: number; toHour: number }[],
): Promise<void> {
  await client.query(
    `DELETE FROM rollup_days d USING unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS w (series_id, from_day, to_day)
     WHERE d.series_id = w.series_id AND d.day >= w.from_day AND d.day <= w.to_day`,
    columns(windows, (w) => [w.seriesId, dayOf(w.fromHour), dayOf(w.toHour)]),
  );
}

interface DayDbRow extends SeriesDbRow {
  day: string;
  count: number;
  sum: string | null;
  integral: string | null;
  last: string | null;
}

/**
 * The accounts' day rows over whole days [from, to), in one statement: per series its rows in the range and, for a
 * level or state, its latest row before it, whose value holds into the range. Sorted as sortDays, by PostgreSQL.
 */
export async function selectAccountsDays(read: Read, query: AccountsRollupQuery): Promise<DayRow[]> {
  const { accounts, from, to, metrics } = query;
  checkWholeDays(from, to);
  if (accounts.length === 0) return [];
  const rows = await read<DayDbRow>(
    `SELECT s.id, s.server, s.account, s.metric, s.instance, s.dims, s.kind, d.day, d.count, d.sum, d.integral, d.last
     FROM series s CROSS JOIN LATERAL (
       (SELECT b.day, b.count, b.sum, b.integral, b.last FROM rollup_days b
        WHERE s.kind <> 'counter' AND b.series_id = s.id AND b.day < $2 ORDER BY b.day DESC LIMIT 1)
       UNION ALL
       (SELECT r.day, r.count, r.sum, r.integral, r.last FROM rollup_days r
        WHERE r.series_id = s.id AND r.day >= $2 AND r.day < $3)
     ) d
     WHERE s.account = ANY($1::text[]) AND s.metric = ANY($4::text[])
     ORDER BY s.account, s.server, s.metric, s.instance, s.dims, d.day`,
    [accounts, from, to, metrics],
  );
  const out: DayRow[] = [];
  for (let i = 0; i < rows.length; ) {
    const id = (rows[i] as DayDbRow).id;
    let before: DayRow | null = null;
    const inRange: DayRow[] = [];
    for (; i < rows.length && (rows[i] as DayDbRow).id === id; i++) {
      const row = dayFromDb(rows[i] as DayDbRow);
      if (row.day < from) before = row;
      else inRange.push(row);
    }
    fillHeldDays(before, inRange, from, to, out);
  }
  return out;
}

function dayFromDb(r: DayDbRow): DayRow {
  return {
    server: r.server,
    account: r.account,
    metric: r.metric,
    instance: r.instance,
    dims: dimsOfKey(r.dims),
    kind: r.kind,
    day: Number(r.day),
    count: r.count,
    sum: bigOrNull(r.sum),
    integral: bigOrNull(r.integral),
    last: bigOrNull(r.last),
  };
}
