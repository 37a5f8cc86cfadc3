// How the SQLite adapters keep exact numbers and their few counters (meta): one place for the conversions.

import type Database from "better-sqlite3";
import { fitsInt64 } from "../../domain/value.js";

/** Binds an exact integer: INTEGER when it fits 64 bits, decimal text beyond. */
export const toDb = (value: bigint): bigint | string => (fitsInt64(value) ? value : value.toString());
export const big = (value: unknown): bigint => (typeof value === "bigint" ? value : BigInt(value as string | number));
export const bigOrNull = (value: unknown): bigint | null => (value === null || value === undefined ? null : big(value));
export const num = (value: unknown): number => Number(value);

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
