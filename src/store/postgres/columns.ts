// Many rows in one statement: parallel arrays, one per column, for `unnest($1, $2, …)`, in one global order.

import type { MetricKind } from "../../domain/metric.js";
import type { HeldRow } from "../../domain/rollup.js";

/** Rows written by one statement: one array literal per column, the parameters of an `unnest($1, $2, …)`. */
export type Columns = string[];

/** A column's values: decimal text, strings, or null. */
export type Value = string | number | bigint | null | undefined;

/**
 * Turns rows (at least one: with none there is no column) into one array literal per column, the parameters of an
 * `unnest($1::text[], $2::bigint[], …)`.
 */
export function columns<T>(rows: readonly T[], row: (item: T) => Value[]): Columns {
  const cols: string[][] = [];
  for (const item of rows) {
    const values = row(item);
    for (let i = 0; i < values.length; i++) {
      let col = cols[i];
      if (col === undefined) {
        col = [];
        cols[i] = col;
      }
      col.push(element(values[i]));
    }
  }
  return cols.map((col) => `{${col.join(",")}}`);
}

/** The characters a quoted array element escapes. */
const ESCAPED = /["\\]/;
const ESCAPED_ALL = /["\\]/g;

/**
 * One element of an array literal: a string quoted (PostgreSQL reads it as it is but for the two characters it
 * escapes), a number as its decimal text, null as NULL. Written here rather than by pg, which escapes every element
 * through two replacements and a call per value: a batch has tens of thousands.
 */
function element(v: Value): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v !== "string") return String(v);
  return ESCAPED.test(v) ? `"${v.replace(ESCAPED_ALL, "\\$&")}"` : `"${v}"`;
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
export function heldColumns(r: HeldRow): Value[] {
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
