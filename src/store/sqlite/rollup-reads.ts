// The derived database's reads of levels and rollups, each a query of its own over the connection that attaches it:
// current levels, one account's rollups over a range, every rollup, and their count.

import type Database from "better-sqlite3";
import { DAY_MS } from "../../domain/day-usage.js";
import type { MetricKind } from "../../domain/metric.js";
import {
  type Dims,
  dimsOfKey,
  fillHeldGaps,
  type RollupRow,
  seriesId,
  sortRollupsByAccount,
} from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { CounterSummer, counterPieces } from "../counter-sums.js";
import type {
  AccountsAfterQuery,
  AccountsRollupQuery,
  CounterSum,
  CounterSumQuery,
  CurrentLevel,
  CurrentLevelQuery,
  RollupQuery,
} from "../port.js";
import { idRuns } from "./day-reads.js";
import { LATEST_READING } from "./migrations.js";
import { prepared } from "./statements.js";
import { big, bigOrNull, num } from "./values.js";

type Row = Record<string, unknown>;

/** Rollups of a range up to this many hours are read by seeking each hour of each series. */
const MAX_SEEK_HOURS = 24 * 549;
/**
 * A rollup row's columns after its series id, from a counter row `c` (the first part of a compound SELECT names them).
 * Ids, hours, counts and times come as doubles, which hold them exactly, and not as the connection's BigInts.
 */
const COUNTER_COLUMNS =
  "CAST(s.id AS REAL) AS series_id, CAST(c.hour AS REAL), CAST(c.count AS REAL), c.sum, NULL AS last, NULL AS max, NULL AS integral, NULL AS last_time";
/** The same from a held row `r`. */
const HELD_COLUMNS =
  "CAST(s.id AS REAL), CAST(r.hour AS REAL), CAST(r.count AS REAL), NULL, r.last, r.max, r.integral, CAST(r.last_time AS REAL)";

/** The hours [first, to) as a table `hours`, from four values: hoursValues. */
const HOURS = `WITH RECURSIVE hours (hour) AS (SELECT ? WHERE ? < ? UNION ALL SELECT hour + ${HOUR_MS} FROM hours WHERE hour + ${HOUR_MS} < ?)`;
const hoursValues = (first: number, to: number) => [first, first, to, to];

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
  const rows = prepared(
    db,
    `SELECT v.name, s.account, s.metric, s.instance, s.dims, r.value, CAST(r.time AS REAL)
     FROM series s JOIN servers v ON v.id = s.server_id ${LATEST_READING}
     WHERE ${where.join(" AND ")}
     ORDER BY v.name, s.account, s.instance, s.dims`,
  ).all(...params) as [string, string, string, string, string, unknown, number][];
  return rows.map(([server, account, metric, instance, dims, value, time]) => ({
    server,
    account,
    metric,
    instance,
    dims: dimsOfKey(dims),
    value: big(value),
    time,
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
  return selectFilled(db, where.join(" AND "), params, query.from, query.to);
}

/** The rows of several accounts, as rollupPages pages them. */
export function selectAccountsRollups(db: Database.Database, query: AccountsRollupQuery): RollupRow[] {
  if (query.accounts.length === 0) return [];
  const rows = selectFilled(
    db,
    "s.account IN (SELECT value FROM json_each(?)) AND s.metric IN (SELECT value FROM json_each(?))",
    [JSON.stringify(query.accounts), JSON.stringify(query.metrics)],
    query.from,
    query.to,
  );
  return sortRollupsByAccount(rows);
}

/** The next `limit` accounts after `after` (null: from the first) with a series of the metrics. */
export function selectAccountsAfter(db: Database.Database, query: AccountsAfterQuery): string[] {
  const { after, limit } = query;
  const metrics = JSON.stringify(query.metrics);
  const rows = prepared(
    db,
    `SELECT DISTINCT account FROM series
     WHERE ${after === null ? "" : "account > ? AND "}metric IN (SELECT value FROM json_each(?)) ORDER BY account LIMIT ?`,
  ).all(...(after === null ? [] : [after]), metrics, limit) as [string][];
  return rows.map(([account]) => account);
}

/** The rows of the series `where` selects in the hours [from, to), the held rows closed and the gaps filled. */
function selectFilled(db: Database.Database, where: string, params: unknown[], from: number, to: number): RollupRow[] {
  const stored = selectRollups(db, where, params, { from, to });
  // Each held series' row just before the range and whether one follows it: the range's hours between readings.
  const edges = db
    .prepare(
      `SELECT v.name AS server, s.account, s.metric, s.instance, s.dims, s.kind, s.id, l.first_hour, l.time, l.value
       FROM series s JOIN servers v ON v.id = s.server_id JOIN latest l ON l.series_id = s.id
       WHERE ${where} AND s.kind <> 'counter'`,
    )
    .all(...params) as Row[];
  const before = new Map<string, RollupRow>();
  const after = new Set<string>();
  // The row of the latest reading's hour holds the latest value; for a series read since, an earlier row is looked for.
  const searched = new Map<number, number>();
  for (const e of edges) if (hourOf(num(e.time)) >= from) searched.set(num(e.id), num(e.first_hour));
  const rowsBefore = latestRowsBefore(db, searched, from);
  for (const e of edges) {
    const latestHour = hourOf(num(e.time));
    const found = latestHour < from ? { hour: latestHour, last: e.value } : (rowsBefore.get(num(e.id)) ?? null);
    const key = {
      server: e.server as string,
      account: e.account as string,
      metric: e.metric as string,
      instance: e.instance as string,
      dims: dimsOfKey(e.dims as string),
    };
    if (found) {
      before.set(
        seriesId(key),
        toRollupRow({
          ...e,
          hour: found.hour,
          count: 0n,
          sum: null,
          last: found.last,
          max: found.last,
          integral: null,
        }),
      );
    }
    if (latestHour >= to) after.add(seriesId(key));
  }
  return fillHeldGaps(stored.rows, { from, to, before, after }, stored.openAt);
}

/**
 * Finds held series' latest rows before a time (by series id, from the hour of each one's first reading): their hour
 * and `last`, looking at one hour after another for every series not found yet at once, so that a page of series
 * costs a statement per hour walked back, not one per series and hour.
 */
function latestRowsBefore(
  db: Database.Database,
  firstHours: ReadonlyMap<number, number>,
  before: number,
): Map<number, { hour: number; last: unknown }> {
  const rowsAt = db
    .prepare("SELECT series_id, last FROM rollups WHERE hour = ? AND series_id IN (SELECT value FROM json_each(?))")
    .raw();
  const found = new Map<number, { hour: number; last: unknown }>();
  let pending = [...firstHours];
  for (let hour = Math.ceil(before / HOUR_MS) * HOUR_MS - HOUR_MS; ; hour -= HOUR_MS) {
    pending = pending.filter(([id, first]) => first <= hour && !found.has(id));
    if (pending.length === 0) return found;
    for (const [id, last] of rowsAt.all(hour, JSON.stringify(pending.map(([id]) => id))) as [number, unknown][]) {
      found.set(num(id), { hour, last });
    }
  }
}

/**
 * Finds a held series' latest row before a time: its hour and `last`, looking at one hour after another, back to
 * the hour of the series' first reading. One lookup for a series read every hour.
 */
export function latestRowBefore(
  db: Database.Database,
): (seriesId: number, firstHour: number, before: number) => { hour: number; last: unknown } | null {
  const rowAt = db.prepare("SELECT last FROM rollups WHERE hour = ? AND series_id = ?").pluck();
  return (seriesId, firstHour, before) => {
    for (let hour = Math.ceil(before / HOUR_MS) * HOUR_MS - HOUR_MS; hour >= firstHour; hour -= HOUR_MS) {
      const last = rowAt.get(hour, seriesId);
      if (last !== undefined) return { hour, last };
    }
    return null;
  };
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
 * selected, unless it spans more hours than a year and a half, when the hours are scanned instead. Rows come back
 * as numbers by series id, and each series' key is read once, so that a row costs no strings of its own.
 */
function selectRollups(
  db: Database.Database,
  where: string,
  params: unknown[],
  range: { from: number; to: number } | null,
): { rows: RollupRow[]; openAt: Float64Array } {
  const first = range === null ? 0 : Math.ceil(range.from / HOUR_MS) * HOUR_MS;
  let sql: string;
  let values: unknown[];
  if (range !== null && (range.to - first) / HOUR_MS <= MAX_SEEK_HOURS) {
    // A held series is looked for only in the hours from its first reading's to its latest's.
    sql = `${HOURS}
      SELECT ${COUNTER_COLUMNS} FROM series s JOIN servers v ON v.id = s.server_id CROSS JOIN hours h
      CROSS JOIN counter_rollups c ON c.hour = h.hour AND c.series_id = s.id
      WHERE ${where} AND s.kind = 'counter'
      UNION ALL
      SELECT ${HELD_COLUMNS} FROM series s JOIN servers v ON v.id = s.server_id CROSS JOIN latest l ON l.series_id = s.id
      CROSS JOIN hours h CROSS JOIN rollups r ON r.hour = h.hour AND r.series_id = s.id
      WHERE ${where} AND h.hour >= l.first_hour AND h.hour <= l.time`;
    values = [...hoursValues(first, range.to), ...params, ...params];
  } else {
    const hours = (alias: string) => (range === null ? "" : ` AND ${alias}.hour >= ? AND ${alias}.hour < ?`);
    const bounds = range === null ? [] : [range.from, range.to];
    sql = `SELECT ${COUNTER_COLUMNS} FROM counter_rollups c JOIN series s ON s.id = c.series_id
      JOIN servers v ON v.id = s.server_id WHERE ${where}${hours("c")}
      UNION ALL
      SELECT ${HELD_COLUMNS} FROM rollups r JOIN series s ON s.id = r.series_id JOIN servers v ON v.id = s.server_id
      WHERE ${where}${hours("r")}`;
    values = [...params, ...bounds, ...params, ...bounds];
  }
  const stored = db
    .prepare(`${sql} ORDER BY 1, 2`)
    .raw()
    .all(...values) as unknown[][];
  const keys = seriesKeys(db, where, params);
  // Each series' rows are next to each other (ordered by id); the runs are put in the order of their keys.
  const runs: { key: SeriesRowKey; start: number; end: number }[] = [];
  for (let i = 0; i < stored.length; i++) {
    const id = num((stored[i] as unknown[])[0]);
    const run = runs.at(-1);
    if (run && num((stored[run.start] as unknown[])[0]) === id) run.end = i + 1;
    else runs.push({ key: keys.get(id) as SeriesRowKey, start: i, end: i + 1 });
  }
  runs.sort((a, b) => a.key.rank - b.key.rank);
  const rows: RollupRow[] = [];
  const openAt = new Float64Array(stored.length);
  for (const { key, start, end } of runs) {
    for (let i = start; i < end; i++) {
      const [, hour, count, sum, last, max, integral, lastTime] = stored[i] as unknown[];
      openAt[rows.length] = lastTime === null ? Number.NaN : num(lastTime);
      rows.push({
        server: key.server,
        account: key.account,
        metric: key.metric,
        instance: key.instance,
        dims: key.dims,
        kind: key.kind,
        hour: num(hour),
        count: num(count),
        sum: bigOrNull(sum),
        last: bigOrNull(last),
        max: bigOrNull(max),
        integral: bigOrNull(integral),
      });
    }
  }
  return { rows, openAt };
}

interface SeriesRowKey {
  readonly server: string;
  readonly account: string;
  readonly metric: string;
  readonly instance: string;
  readonly dims: Dims;
  readonly kind: MetricKind;
  /** The series' place in the order of rows: by server, account, metric, instance and dims, as UTF-8 bytes. */
  readonly rank: number;
}

/** The keys of the series `where` selects, by id, each with its rank. */
function seriesKeys(db: Database.Database, where: string, params: unknown[]): Map<number, SeriesRowKey> {
  const found = db
    .prepare(
      `SELECT s.id, v.name, s.account, s.metric, s.instance, s.dims, s.kind FROM series s
       JOIN servers v ON v.id = s.server_id WHERE ${where} ORDER BY 2, 3, 4, 5, 6`,
    )
    .raw()
    .all(...params) as [unknown, string, string, string, string, string, MetricKind][];
  return new Map(
    found.map(([id, server, account, metric, instance, dims, kind], rank) => [
      num(id),
      { server, account, metric, instance, dims: dimsOfKey(dims), kind, rank },
    ]),
  );
}

/**
 * A stored sum as JSON that JSON.parse reads exactly: an integer a double holds, or else its decimal text. A sum is
 * an INTEGER or, beyond 64 bits, TEXT, which SQLite orders after every number: only integers fall in the range.
 */
const sumAsJson = (column: string) =>
  `iif(${column} BETWEEN -${Number.MAX_SAFE_INTEGER} AND ${Number.MAX_SAFE_INTEGER}, ${column}, CAST(${column} AS TEXT))`;

/**
 * The days [@firstDay, @to) as `range_days`, the hours of a day as `offsets`, the runs of nearby series ids
 * (day-reads.ts idRuns) of @runs as `runs`, and as `traffic` each day outside the whole days [@wholeFrom, @wholeTo)
 * with a run that has a day row on it: only those days' hours are read.
 */
const RANGES = `WITH RECURSIVE range_days (day) AS MATERIALIZED (
    SELECT @firstDay WHERE @first < @to UNION ALL SELECT day + ${DAY_MS} FROM range_days WHERE day + ${DAY_MS} < @to),
  offsets (hour) AS MATERIALIZED (SELECT 0 UNION ALL SELECT hour + ${HOUR_MS} FROM offsets WHERE hour + ${HOUR_MS} < ${DAY_MS}),
  runs (lo, hi) AS MATERIALIZED (SELECT value ->> 0, value ->> 1 FROM json_each(@runs)),
  traffic (day, lo, hi) AS MATERIALIZED (
    SELECT w.day, r.lo, r.hi FROM range_days w CROSS JOIN runs r
    WHERE (w.day < @wholeFrom OR w.day >= @wholeTo)
      AND EXISTS (SELECT 1 FROM days d WHERE d.day = w.day AND d.series_id BETWEEN r.lo AND r.hi))`;

/**
 * The hourly rows in [@first, @to) of the traffic days: each hour of a run read as one range of the table (hour
 * first, then series), the ids between the asked ones passed over. The unary plus keeps SQLite from seeking each
 * asked id instead.
 */
const TRAFFIC_HOURS = `SELECT c.series_id AS i, c.hour / ${HOUR_MS} AS t, ${sumAsJson("c.sum")} AS v
  FROM traffic a CROSS JOIN offsets o
    CROSS JOIN counter_rollups c ON c.hour = a.day + o.hour AND c.series_id BETWEEN a.lo AND a.hi
  WHERE +c.series_id IN (SELECT value FROM json_each(@ids)) AND c.hour >= @first AND c.hour < @to`;

/**
 * The pieces (counter-sums.ts) of the series @ids as JSON [[series id, …], [hour, …], [sum, …]], each hour as hours
 * since 1970 (six digits where epoch ms take thirteen, less to write and parse); three arrays parse faster than an
 * array per piece. By hour, every hour; for a total, the day rows of the whole days too.
 */
const COUNTER_HOURS = `${RANGES}
  SELECT json_array(json_group_array(i), json_group_array(t), json_group_array(v)) FROM (${TRAFFIC_HOURS})`;

const COUNTER_DAYS = `${RANGES}
  SELECT json_array(json_group_array(i), json_group_array(t), json_group_array(v)) FROM (
    SELECT d.series_id AS i, d.day / ${HOUR_MS} AS t, ${sumAsJson("d.sum")} AS v
    FROM range_days w CROSS JOIN runs r CROSS JOIN days d ON d.day = w.day AND d.series_id BETWEEN r.lo AND r.hi
    WHERE +d.series_id IN (SELECT value FROM json_each(@ids)) AND w.day >= @wholeFrom AND w.day < @wholeTo
    UNION ALL ${TRAFFIC_HOURS})`;

/** The account's counter series of the metrics (and servers) asked for: id and metric. */
const ACCOUNT_COUNTERS = `SELECT CAST(s.id AS REAL), s.metric FROM series s JOIN servers v ON v.id = s.server_id
  WHERE s.account = @account AND s.kind = 'counter' AND s.metric IN (SELECT value FROM json_each(@metrics))
    AND (@servers IS NULL OR v.name IN (SELECT value FROM json_each(@servers)))`;

export function selectCounterSums(db: Database.Database, query: CounterSumQuery): CounterSum[] {
  const pieces = counterPieces(query);
  const summer = new CounterSummer(query.byHour, pieces.first);
  const series = prepared(db, ACCOUNT_COUNTERS).all({
    account: query.account,
    metrics: JSON.stringify(query.metrics),
    servers: query.servers ? JSON.stringify(query.servers) : null,
  }) as [number, string][];
  if (series.length === 0) return summer.result();
  const metricOf = new Map(series);
  const ids = [...metricOf.keys()];
  const [json] = prepared(db, query.byHour ? COUNTER_HOURS : COUNTER_DAYS).get({
    ...pieces,
    firstDay: Math.floor(pieces.first / DAY_MS) * DAY_MS,
    runs: JSON.stringify(idRuns(ids)),
    ids: JSON.stringify(ids),
  }) as [string];
  const [seriesIds, hours, sums] = JSON.parse(json) as [number[], number[], (number | string)[]];
  for (let i = 0; i < hours.length; i++) {
    summer.add(metricOf.get(seriesIds[i] as number) as string, hours[i] as number, sums[i] as number | string);
  }
  return summer.result();
}

/** How many rollup rows there are once the hours between readings are filled in, without filling them. */
export function countRollups(db: Database.Database): number {
  return num(
    db
      .prepare(
        `SELECT coalesce(sum(n), 0) FROM (
           SELECT (time - time % ${HOUR_MS} - first_hour) / ${HOUR_MS} + 1 AS n FROM latest
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
    dims: dimsOfKey(r.dims as string),
    kind: r.kind as MetricKind,
    hour: num(r.hour),
    count: num(r.count),
    sum: bigOrNull(r.sum),
    last: bigOrNull(r.last),
    max: bigOrNull(r.max),
    integral: bigOrNull(r.integral),
  };
}
