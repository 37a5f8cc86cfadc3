// Many rows in one statement: parallel arrays, one per column, for `unnest($1, $2, …)`, in one global order.

import type { MetricKind } from "../../domain/metric.js";
import type { HeldRow } from "../../domain/rollup.js";

/** Rows written by one statement: parallel arrays, one per column, passed to unnest(). */
export type Columns = unknown[][];

/** Turns rows into one array per column, the parameters of an `unnest($1, $2, …)`. */
export function columns<T>(rows: readonly T[], row: (item: T) => unknown[]): Columns {
  const cols: Columns = [];
  for (const item of rows) {
    const values = row(item);
    for (const [i, v] of values.entries()) {
      const col = cols[i] ?? [];
      col.push(v);
      cols[i] = col;
    }
  }
  return cols;
}

/** Orders bigserial ids, which pg returns as decimal strings. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Writes held rollup rows, given series_id then heldColumns: ingest adds an ON CONFLICT clause, a rebuild not. */
export const INSERT_HELD_ROWS = `INSERT INTO rollups (series_id, hour, count, last, max, integral, last_time)
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::numeric[], $5::numeric[], $6::numeric[],
    $7::bigint[])`;

/** A held rollup row's columns after series_id; last_time is where the row is open (fillHeldGaps closes it). */
export function heldColumns(r: HeldRow): unknown[] {
  return [r.hour, r.count, r.last.toString(), r.max.toString(), r.integral.toString(), r.lastTime];
}

/** A series row as pg returns it: the id a bigserial's decimal string, dims their stored key. */
export interface SeriesDbRow {
  id: string;
  server: string;
  account: string;
  metric: string;
  instance: string;
  dims: string;
  kind: MetricKind;
}
