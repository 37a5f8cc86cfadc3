// The derived database's read of usage by UTC day (the days table, derived-state.ts): several accounts' days over
// whole days, the held series' days closed and the days between their readings filled (held-day.ts).

import type Database from "better-sqlite3";
import { DAY_MS, type DayRow, dayOf, dayRow } from "../../domain/day-usage.js";
import { closeHeldDays, type HeldDay } from "../../domain/held-day.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { compareUtf8, dimsOfKey, type SeriesKey } from "../../domain/rollup.js";
import type { AccountsRollupQuery } from "../port.js";
import { prepared } from "./statements.js";
import { big, num } from "./values.js";

/** The days [first, to) as a table `asked`, from four values: first, first, to, to. */
const DAYS = `WITH RECURSIVE asked (day) AS (SELECT ? WHERE ? < ? UNION ALL SELECT day + ${DAY_MS} FROM asked WHERE day + ${DAY_MS} < ?)`;

/** A series: id, server (its name, or its id), account, metric, instance, dims, and a held one's first hour and latest reading. */
type SeriesRow<Server = string> = [
  number,
  Server,
  string,
  string,
  string,
  string,
  number | null,
  number | null,
  unknown,
];

/**
 * Series in the order of the unique index (account, server id, …) put in sortDays order: their servers named, and
 * each account's series ordered by server name, keeping the index's order for the same server.
 */
function byServerName(db: Database.Database, rows: SeriesRow<number>[]): SeriesRow[] {
  const ids = [...new Set(rows.map((r) => r[1]))];
  const servers = prepared(
    db,
    "SELECT CAST(id AS REAL), name FROM servers WHERE id IN (SELECT value FROM json_each(?))",
  ).all(JSON.stringify(ids)) as [number, string][];
  const names = new Map(servers);
  const rank = new Map(servers.sort((a, b) => compareUtf8(a[1], b[1])).map(([id], i) => [id, i]));
  const rankOf = (r: SeriesRow<number>) => rank.get(r[1]) as number;
  let ordered = rows;
  let sorted = true;
  for (let i = 1; i < rows.length && sorted; i++) {
    const a = rows[i - 1] as SeriesRow<number>;
    const b = rows[i] as SeriesRow<number>;
    if (a[2] === b[2] && rankOf(b) < rankOf(a)) sorted = false;
  }
  if (!sorted) {
    // Each row with its server's rank and the position of its account's first row; stable, so the series of one
    // account on one server stay in the index's order.
    const ranked = rows.map((r, i) => ({ r, block: i, rank: rankOf(r) }));
    for (let i = 1; i < ranked.length; i++) {
      const a = ranked[i - 1] as (typeof ranked)[number];
      const b = ranked[i] as (typeof ranked)[number];
      if (a.r[2] === b.r[2]) b.block = a.block;
    }
    ranked.sort((a, b) => a.block - b.block || a.rank - b.rank);
    ordered = ranked.map(({ r }) => r);
  }
  // Named in place: the rows are this read's own.
  const named = ordered as unknown as SeriesRow[];
  for (const row of named) row[1] = names.get(row[1] as unknown as number) as string;
  return named;
}

/** A stored day: series id, day, count, a counter's sum or a held series' integral, first_time, last (numbers as doubles). */
type StoredDay = [number, number, number, unknown, number | null, unknown];

/** A series' key and its stored days in the range, gathered: a counter's rows, or a held series' days. */
type Gathered = { readonly key: DayKey; counter: DayRow[] | null; held: HeldDay[] | null };

/**
 * The day rows of the accounts' series of the metrics over whole days [from, to), sorted as sortDays: the series
 * are read in that order, and their stored days a day at a time for runs of nearby series ids, then gathered by series.
 */
export function selectAccountsDays(db: Database.Database, query: AccountsRollupQuery): DayRow[] {
  const { from, to } = query;
  if (query.accounts.length === 0 || from >= to) return [];
  const where = "s.account IN (SELECT value FROM json_each(?)) AND s.metric IN (SELECT value FROM json_each(?))";
  const params = [JSON.stringify(query.accounts), JSON.stringify(query.metrics)];
  // In the order of the series' unique index, which needs no sort, then by server name within each account.
  const rows = prepared(
    db,
    `SELECT CAST(s.id AS REAL), CAST(s.server_id AS REAL), s.account, s.metric, s.instance, s.dims,
       CAST(l.first_hour AS REAL), CAST(l.time AS REAL), l.value
     FROM series s LEFT JOIN latest l ON l.series_id = s.id
     WHERE ${where} ORDER BY s.account, s.server_id, s.metric, s.instance, s.dims`,
  ).all(...params) as SeriesRow<number>[];
  const series = byServerName(db, rows);
  const kinds = metricKinds(db, series);
  const gathered = new Map<number, Gathered>();
  for (const [id, server, account, metric, instance, dims] of series) {
    const key = { server, account, metric, instance, dims: dimsOfKey(dims), kind: kinds.get(metric) as MetricKind };
    gathered.set(id, { key, counter: null, held: null });
  }
  const stored = prepared(
    db,
    `${DAYS} SELECT CAST(x.series_id AS REAL), CAST(x.day AS REAL), CAST(x.count AS REAL), coalesce(x.sum, x.integral),
       CAST(x.first_time AS REAL), x.last
     FROM json_each(?) r CROSS JOIN asked a CROSS JOIN days x
       ON x.day = a.day AND x.series_id BETWEEN r.value ->> 0 AND r.value ->> 1`,
  ).all(from, from, to, to, JSON.stringify(idRuns([...gathered.keys()]))) as StoredDay[];
  for (const row of stored) {
    // A run's range may hold other series between the asked ones: they are passed over.
    const g = gathered.get(row[0]);
    if (g === undefined) continue;
    if (!isHeld(g.key.kind)) {
      g.counter ??= [];
      g.counter.push(dayRow(g.key, row[1], row[2], { sum: big(row[3]), integral: null, last: null }));
    } else {
      g.held ??= [];
      g.held.push({
        day: row[1],
        count: row[2],
        integral: big(row[3]),
        firstTime: row[4] as number,
        last: big(row[5]),
      });
    }
  }
  // A held series read since `from` had a value before it only if it was read before its day.
  const searched = new Map<number, number>();
  for (const [id, , , , , , firstHour, time] of series) {
    if (firstHour !== null && (time as number) >= from && firstHour < from) searched.set(id, dayOf(firstHour));
  }
  const lastsBefore = latestDaysBefore(db, searched, from);
  const out: DayRow[] = [];
  for (const [id, , , , , , , time, value] of series) {
    const g = gathered.get(id) as Gathered;
    if (!isHeld(g.key.kind)) {
      for (const row of g.counter?.sort(byDay) ?? []) out.push(row);
      continue;
    }
    const held = (time as number) < from ? big(value) : (lastsBefore.get(id) ?? null);
    closeHeldDays(g.key, held, g.held?.sort(byDay) ?? [], from, to, out);
  }
  return out;
}

/**
 * The kind of each metric of the series, from one series of each: every series of a metric has the kind it was
 * first stored with, so the series' own reads stay within their index.
 */
function metricKinds(db: Database.Database, series: readonly SeriesRow[]): Map<string, MetricKind> {
  const kinds = new Map<string, MetricKind>();
  const kindOf = prepared(db, "SELECT kind FROM series WHERE id = ?");
  for (const [id, , , metric] of series) {
    if (!kinds.has(metric)) kinds.set(metric, (kindOf.get(id) as [MetricKind])[0]);
  }
  return kinds;
}

/** Series ids at most this far apart are read as one range of each day: stepping over a few rows costs less than a seek. */
const RUN_GAP = 4;

/** The ids as runs [first, last] of ids at most RUN_GAP apart, in order. */
export function idRuns(ids: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && id - last[1] <= RUN_GAP) last[1] = id;
    else runs.push([id, id]);
  }
  return runs;
}

type DayKey = SeriesKey & { readonly kind: MetricKind };

const byDay = (a: { day: number }, b: { day: number }) => a.day - b.day;

/**
 * The `last` of held series' latest days before a day (by series id, from the day of each one's first reading),
 * looking at one day after another for every series not found yet at once: a statement per day walked back.
 */
function latestDaysBefore(
  db: Database.Database,
  firstDays: ReadonlyMap<number, number>,
  before: number,
): Map<number, bigint> {
  const daysAt = prepared(
    db,
    "SELECT series_id, last FROM days WHERE day = ? AND series_id IN (SELECT value FROM json_each(?))",
  );
  const found = new Map<number, bigint>();
  let pending = [...firstDays];
  for (let day = before - DAY_MS; ; day -= DAY_MS) {
    pending = pending.filter(([id, first]) => first <= day && !found.has(id));
    if (pending.length === 0) return found;
    for (const [id, last] of daysAt.all(day, JSON.stringify(pending.map(([id]) => id))) as [unknown, unknown][]) {
      found.set(num(id), big(last));
    }
  }
}
