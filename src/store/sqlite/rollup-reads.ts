// The derived database's reads of levels and rollups, each a query of its own over the connection that attaches it:
// current levels, one account's rollups over a range, every rollup, and their count.

import type Database from "better-sqlite3";
import type { MetricKind } from "../../domain/metric.js";
import { fillHeldGaps, type RollupRow, seriesId } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import type { CurrentLevel, CurrentLevelQuery, RollupQuery } from "../port.js";
import { LATEST_READING } from "./migrations.js";
import { big, bigOrNull, num } from "./values.js";

type Row = Record<string, unknown>;

/** Counter rollups of a range up to this many hours are read by seeking each hour of each series. */
const MAX_SEEK_HOURS = 24 * 549;
/** A counter rollup row in the columns of the rollups table (the first part of a compound SELECT names them). */
const COUNTER_COLUMNS =
  "v.name AS server, s.account, s.metric, s.instance, s.kind, c.hour, c.count, c.sum, NULL AS last, NULL AS max, NULL AS integral, NULL AS last_time";

export function selectCurrentLevels(db: Database.Database, query: CurrentLevelQuery): CurrentLevel[] {
  const where = ["s.metric = ?"];
  const params: unknown[] = [query.metric];
  if (query.accounts) {
    where.push("s.account IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(query.accounts));
  }
  if (query.servers) {
    where.push("v.name IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(query.servers));
  }
  const rows = db
    .prepare(
      `SELECT v.name AS server, s.account, s.metric, s.instance, r.value AS last_value, r.time AS last_time
       FROM series s JOIN servers v ON v.id = s.server_id ${LATEST_READING}
       WHERE ${where.join(" AND ")}
       ORDER BY v.name, s.account, s.instance`,
    )
    .all(...params) as Row[];
  return rows.map((r) => ({
    server: r.server as string,
    account: r.account as string,
    metric: r.metric as string,
    instance: r.instance as string,
    value: big(r.last_value),
    time: num(r.last_time),
  }));
}

export function selectRollupRange(db: Database.Database, query: RollupQuery): RollupRow[] {
  const where = ["s.account = ?"];
  const params: unknown[] = [query.account];
  if (query.metrics) {
    where.push("s.metric IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(query.metrics));
  }
  if (query.servers) {
    where.push("v.name IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(query.servers));
  }
  const stored = selectRollups(db, where.join(" AND "), params, { from: query.from, to: query.to });
  // Each held series' row just before the range and whether one follows it: the range's hours between readings.
  const edges = db
    .prepare(
      `SELECT v.name AS server, s.account, s.metric, s.instance, s.kind, b.hour, b.last,
         EXISTS (SELECT 1 FROM rollups a WHERE a.series_id = s.id AND a.hour >= ?) AS more
       FROM series s JOIN servers v ON v.id = s.server_id
       LEFT JOIN rollups b ON b.series_id = s.id
         AND b.hour = (SELECT max(hour) FROM rollups WHERE series_id = s.id AND hour < ?)
       WHERE ${where.join(" AND ")} AND s.kind <> 'counter'`,
    )
    .all(query.to, query.from, ...params) as Row[];
  const before = new Map<string, RollupRow>();
  const after = new Set<string>();
  for (const e of edges) {
    const row = toRollupRow({ ...e, count: 0n, sum: null, max: e.last, integral: null });
    if (e.hour !== null) before.set(seriesId(row), row);
    if (num(e.more) === 1) after.add(seriesId(row));
  }
  return fillHeldGaps(stored.rows, { from: query.from, to: query.to, before, after }, stored.openAt);
}

/** Every rollup row, in the order computeRollups gives them, the hours between readings filled in. */
export function selectAllRollups(db: Database.Database): RollupRow[] {
  const { rows, openAt } = selectRollups(db, "1", [], null);
  return fillHeldGaps(rows, undefined, openAt);
}

/**
 * The rows stored, of the series `where` selects, in the hours [from, to) or all, with the time each held row is
 * open from (fillHeldGaps closes those rows, and adds the hours wholly between two readings, which have none).
 * Counter rows are ordered by hour, then series: a range is read by seeking each (hour, series) of the series
 * selected, unless it spans more hours than a year and a half, when the hours are scanned instead.
 */
function selectRollups(
  db: Database.Database,
  where: string,
  params: unknown[],
  range: { from: number; to: number } | null,
): { rows: RollupRow[]; openAt: Float64Array } {
  const first = range === null ? 0 : Math.ceil(range.from / HOUR_MS) * HOUR_MS;
  const seek = range !== null && (range.to - first) / HOUR_MS <= MAX_SEEK_HOURS;
  const held = range === null ? "" : "AND r.hour >= ? AND r.hour < ?";
  let counters: string;
  let counterParams: unknown[];
  if (seek) {
    counters = `WITH RECURSIVE hours (hour) AS (SELECT ? WHERE ? < ? UNION ALL SELECT hour + ${HOUR_MS} FROM hours WHERE hour + ${HOUR_MS} < ?)
      SELECT ${COUNTER_COLUMNS} FROM series s JOIN servers v ON v.id = s.server_id CROSS JOIN hours h
      CROSS JOIN counter_rollups c ON c.hour = h.hour AND c.series_id = s.id
      WHERE ${where} AND s.kind = 'counter'`;
    counterParams = [first, first, range.to, range.to, ...params];
  } else {
    counters = `SELECT ${COUNTER_COLUMNS} FROM counter_rollups c JOIN series s ON s.id = c.series_id
      JOIN servers v ON v.id = s.server_id WHERE ${where}${range === null ? "" : " AND c.hour >= ? AND c.hour < ?"}`;
    counterParams = range === null ? params : [...params, range.from, range.to];
  }
  const rows = db
    .prepare(
      `${counters}
       UNION ALL
       SELECT v.name, s.account, s.metric, s.instance, s.kind, r.hour, r.count, r.sum, r.last, r.max, r.integral,
         r.last_time
       FROM rollups r JOIN series s ON s.id = r.series_id JOIN servers v ON v.id = s.server_id
       WHERE ${where} ${held}
       ORDER BY 1, 2, 3, 4, 6`,
    )
    .all(...counterParams, ...params, ...(range === null ? [] : [range.from, range.to])) as Row[];
  const openAt = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    openAt[i] = r.last_time === null ? Number.NaN : num(r.last_time);
  });
  return { rows: rows.map(toRollupRow), openAt };
}

/** How many rollup rows there are once the hours between readings are filled in, without filling them. */
export function countRollups(db: Database.Database): number {
  return num(
    db
      .prepare(
        `SELECT coalesce(sum(n), 0) FROM (
           SELECT (max(hour) - min(hour)) / ${HOUR_MS} + 1 AS n FROM rollups GROUP BY series_id
           UNION ALL SELECT count(*) FROM counter_rollups)`,
      )
      .pluck()
      .get(),
  );
}

function toRollupRow(r: Row): RollupRow {
  return {
    server: r.server as string,
    account: r.account as string,
    metric: r.metric as string,
    instance: r.instance as string,
    kind: r.kind as MetricKind,
    hour: num(r.hour),
    count: num(r.count),
    sum: bigOrNull(r.sum),
    last: bigOrNull(r.last),
    max: bigOrNull(r.max),
    integral: bigOrNull(r.integral),
  };
}
