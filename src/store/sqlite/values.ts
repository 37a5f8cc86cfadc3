// How the SQLite adapters keep exact numbers and their few counters (meta): one place for the conversions.

import type Database from "better-sqlite3";
import { fitsInt64 } from "../../domain/value.js";

/** Binds an exact integer: INTEGER when it fits 64 bits, decimal text beyond. */
export const toDb = (value: bigint): bigint | string => (fitsInt64(value) ? value : value.toString());
export const big = (value: unknown): bigint => (typeof value === "bigint" ? value : BigInt(value as string | number));
export const bigOrNull = (value: unknown): bigint | null => (value === null || value === undefined ? null : big(value));
export const num = (value: unknown): number => Number(value);

/**
 * An upsert's `SET` of a stored sum plus `excluded.sum`, exactly: a sum that leaves 64 bits (SQLite would make it a
 * REAL), or one already beyond, is added by tally_add, which `addExactly` gives the connection.
 */
export const SUM_EXACTLY = `sum = CASE WHEN typeof(sum + excluded.sum) = 'integer' THEN sum + excluded.sum
  ELSE tally_add(sum, excluded.sum) END`;

/** Gives the connection tally_add, for SUM_EXACTLY. */
export function addExactly(db: Database.Database): void {
  db.function("tally_add", { safeIntegers: true, deterministic: true }, (a: unknown, b: unknown) =>
    toDb(big(a) + big(b)),
  );
}

/** The meta table's numbers by key (cursors such as rollup_seq and dedup_seq). */
export class Meta {
  private readonly read;
  private readonly write;

  /** `table` is "meta", or "derived.meta" for the derived database's from the main connection. */
  constructor(db: Database.Database, table = "meta") {
    this.read = db.prepare(`SELECT value FROM ${table} WHERE key = ?`).pluck();
    this.write = db.prepare(
      `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
  }

  get(key: string, fallback: number): number {
    return num(this.read.get(key) ?? fallback);
  }

  set(key: string, value: number): void {
    this.write.run(key, value);
  }
}
