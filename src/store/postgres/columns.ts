// Many rows in one statement: one parameter per column, for `unnest($1, $2, …)`, in one global order.

import type { MetricKind } from "../../domain/metric.js";
import type { HeldRow } from "../../domain/rollup.js";

/** A column's element type, as the statement casts its parameter: `unnest($1::bigint[], …)`. */
export type ColumnType = "bigint" | "integer" | "text" | "jsonb" | "numeric";

/** One column of rows, the parameter of an `unnest($1::bigint[], …)`: binary, or an array literal for numeric. */
export type Column = Buffer | string;

/** A column's values: decimal text or numbers for numeric types, strings, or null. */
export type Value = string | number | bigint | null | undefined;

/**
 * Turns rows into one parameter per column, of the types the statement casts them to (`types`, in order). Columns
 * go to PostgreSQL in its binary array format, written straight into a buffer: as text, every value became a string
 * of its own and the whole column another, garbage that took the ingest's main thread more time than the rest of
 * its work (numeric columns, whose binary format is not worth writing, stay array literals).
 */
export function columns<T>(types: readonly ColumnType[], rows: readonly T[], row: (item: T) => Value[]): Column[] {
  const values: Value[][] = types.map(() => new Array(rows.length));
  for (let r = 0; r < rows.length; r++) {
    const v = row(rows[r] as T);
    for (let c = 0; c < types.length; c++) (values[c] as Value[])[r] = v[c];
  }
  return types.map((type, c) => encode(type, values[c] as Value[]));
}

/** The element type's oid, which the binary format names and PostgreSQL checks against the cast. */
const OIDS = { bigint: 20, integer: 23, text: 25, jsonb: 3802 } as const;
const HEADER_BYTES = 20;
const TWO_32 = 2 ** 32;

function encode(type: ColumnType, values: readonly Value[]): Column {
  if (type === "numeric") return `{${values.map(element).join(",")}}`;
  let size = HEADER_BYTES;
  for (const v of values) size += v === null || v === undefined ? 4 : 4 + elementBytes(type, v);
  const buf = Buffer.allocUnsafe(size);
  let at = HEADER_BYTES;
  let nulls = 0;
  for (const v of values) {
    if (v === null || v === undefined) {
      buf.writeInt32BE(-1, at);
      at += 4;
      nulls = 1;
    } else if (type === "bigint") {
      buf.writeInt32BE(8, at);
      writeInt64(buf, at + 4, v);
      at += 12;
    } else if (type === "integer") {
      buf.writeInt32BE(4, at);
      buf.writeInt32BE(Number(v), at + 4);
      at += 8;
    } else {
      // jsonb's binary format is its text after a version byte.
      const text = at + 4 + (type === "jsonb" ? 1 : 0);
      if (type === "jsonb") buf[at + 4] = 1;
      const end = text + buf.write(String(v), text);
      buf.writeInt32BE(end - at - 4, at);
      at = end;
    }
  }
  // One dimension (none when empty), whether there are nulls, the element type, then the length and lower bound.
  buf.writeInt32BE(values.length === 0 ? 0 : 1, 0);
  buf.writeInt32BE(nulls, 4);
  buf.writeInt32BE(OIDS[type], 8);
  buf.writeInt32BE(values.length, 12);
  buf.writeInt32BE(1, 16);
  return buf.subarray(0, values.length === 0 ? 12 : at);
}

/** At most the bytes an element takes: a string's UTF-8 takes at most 3 bytes per UTF-16 unit. */
function elementBytes(type: Exclude<ColumnType, "numeric">, v: string | number | bigint): number {
  if (type === "bigint") return 8;
  if (type === "integer") return 4;
  return (type === "jsonb" ? 1 : 0) + 3 * (typeof v === "string" ? v.length : String(v).length);
}

/** An integer (a number, a bigint, or decimal text such as the ids pg returns) as 8 bytes, big-endian. */
function writeInt64(buf: Buffer, at: number, v: string | number | bigint): void {
  const n = typeof v === "number" ? v : Number(v);
  if (Number.isSafeInteger(n)) {
    const high = Math.floor(n / TWO_32);
    buf.writeInt32BE(high, at);
    buf.writeUInt32BE(n - high * TWO_32, at + 4);
  } else {
    buf.writeBigInt64BE(BigInt(v), at);
  }
}

/** One element of a numeric array literal: decimal text (which needs no quoting), or NULL. */
function element(v: Value): string {
  return v === null || v === undefined ? "NULL" : String(v);
}

/** Orders bigserial ids, which pg returns as decimal strings. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Writes held rollup rows, given series_id then heldColumns: ingest adds an ON CONFLICT clause, a rebuild not. */
export const INSERT_HELD_ROWS = `INSERT INTO rollups (series_id, hour, count, last, max, integral, last_time)
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::numeric[], $5::numeric[], $6::numeric[],
    $7::bigint[])`;

/** The types of INSERT_HELD_ROWS's columns: series_id, then heldColumns. */
export const HELD_ROW_TYPES: readonly ColumnType[] = [
  "bigint",
  "bigint",
  "integer",
  "numeric",
  "numeric",
  "numeric",
  "bigint",
];

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
