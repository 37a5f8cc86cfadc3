// Level and state rollups on PostgreSQL, for one batch in the ingest transaction: each series' new readings are
// appended to its open row with appendReading when they all come after its latest reading, and otherwise the hours
// they change are recomputed from the stored readings with heldRows. The same rows SQLite keeps (rollup.ts); the
// days of the rows written are then recomputed from them (rollup-days.ts).

import type pg from "pg";
import { appendReading, compareReadings, type HeldRow, heldRows, type Reading } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { columns, compareIds, heldColumns, INSERT_HELD_ROWS } from "./columns.js";
import { deleteHeldDays, writeHeldDays } from "./rollup-days.js";

/** A level or state series, locked by the batch, with its latest reading (null: nothing stored yet). */
export interface HeldSeries {
  readonly id: string;
  readonly last: Reading | null;
}

interface HeldWrite {
  readonly seriesId: string;
  readonly rows: readonly HeldRow[];
}

/**
 * Rewrites the hours of each series that the batch's readings change, and its latest reading. When every new
 * reading comes after the series' latest, the row of the latest reading's hour is appended to and rows follow for
 * the new hours. Otherwise the affected hours are recomputed from the stored readings: from the hour of the
 * earliest new reading to the hour of the first stored reading after the newest new one.
 */
export async function writeHeldRollups(
  client: pg.PoolClient,
  batch: readonly { state: HeldSeries; readings: Reading[] }[],
): Promise<void> {
  const writes: HeldWrite[] = [];
  const appended: { state: HeldSeries & { last: Reading }; readings: Reading[] }[] = [];
  const late: { state: HeldSeries; readings: Reading[] }[] = [];
  const latest: { seriesId: string; reading: Reading }[] = [];
  for (const entry of batch) {
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
        rows: heldRows(null, readings, hourOf(first.time), hourOf(newest.time), null, true),
      });
    } else if (compareReadings(first, last) > 0) {
      appended.push({ state: { ...state, last }, readings });
    } else {
      late.push(entry);
    }
  }

  if (appended.length > 0) {
    const stored = await client.query<{
      series_id: string;
      count: number;
      last: string;
      max: string;
      integral: string;
      last_time: string | null;
    }>(
      `SELECT r.series_id, r.count, r.last, r.max, r.integral, r.last_time
       FROM rollups r JOIN unnest($1::bigint[], $2::bigint[]) AS k (series_id, hour)
         ON r.series_id = k.series_id AND r.hour = k.hour`,
      columns(appended, (a) => [a.state.id, hourOf(a.state.last.time)]),
    );
    const rowOf = new Map(stored.rows.map((r) => [r.series_id, r]));
    for (const a of appended) {
      const old = rowOf.get(a.state.id);
      if (!old || old.last_time === null || Number(old.last_time) !== a.state.last.time) {
        late.push(a); // Not what this series should look like; recompute it from its readings instead.
        continue;
      }
      let last: Reading = a.state.last;
      let row: HeldRow = {
        hour: hourOf(last.time),
        count: old.count,
        last: BigInt(old.last),
        max: BigInt(old.max),
        integral: BigInt(old.integral),
        lastTime: last.time,
        lastId: last.id,
      };
      const rows: HeldRow[] = [];
      for (const r of a.readings) {
        const next = appendReading(last, row, r);
        if (next.hour !== row.hour) rows.push(row);
        row = next;
        last = r;
      }
      rows.push(row);
      writes.push({ seriesId: a.state.id, rows });
    }
  }

  if (late.length > 0) writes.push(...(await recomputeLate(client, late)));

  const rows = writes
    .flatMap((w) => w.rows.map((r) => ({ seriesId: w.seriesId, ...r })))
    .sort((a, b) => compareIds(a.seriesId, b.seriesId) || a.hour - b.hour);
  if (rows.length > 0) {
    await client.query(
      `${INSERT_HELD_ROWS}
       ON CONFLICT (series_id, hour) DO UPDATE
       SET count = excluded.count, last = excluded.last, max = excluded.max, integral = excluded.integral,
         last_time = excluded.last_time`,
      columns(rows, (r) => [r.seriesId, ...heldColumns(r)]),
    );
    await writeHeldDays(client, rows);
  }
  if (latest.length > 0) await writeLatest(client, latest);
}

/** Sets series' latest readings (ingest and rebuild). */
export async function writeLatest(
  client: pg.PoolClient,
  latest: readonly { seriesId: string; reading: Reading }[],
): Promise<void> {
  await client.query(
    `UPDATE series s SET last_time = u.time, last_id = u.id, last_value = u.value
     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[]) AS u (series_id, time, id, value)
     WHERE s.id = u.series_id`,
    columns(latest, (l) => [l.seriesId, l.reading.time, l.reading.id, l.reading.value.toString()]),
  );
}

/** Rows for series with readings before their latest: the window of hours they change, from stored readings. */
async function recomputeLate(
  client: pg.PoolClient,
  late: readonly { state: HeldSeries; readings: Reading[] }[],
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
  await deleteHeldDays(client, windows);
  return windows.map((w) => {
    const p = parts.get(w.seriesId) as { carry: Reading | null; readings: Reading[]; next: number | null };
    p.readings.sort(compareReadings);
    return { seriesId: w.seriesId, rows: heldRows(p.carry, p.readings, w.fromHour, w.toHour, p.next, true) };
  });
}
