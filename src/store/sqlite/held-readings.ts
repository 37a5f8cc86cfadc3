// The readings of held (level and state) series as derivation sees them: those on disk in the derived database and
// those applied since the last write, kept in memory per series, sorted, until they are written.

import type Database from "better-sqlite3";
import { compareReadings, type Reading } from "../../domain/rollup.js";
import { RowWriter } from "./row-writer.js";
import { big, num, toDb } from "./values.js";

/** What the readings of a series need to know of it: a new series has none on disk. */
interface HeldSeries {
  readonly id: number;
  readonly isNew: boolean;
}

type Row = Record<string, unknown>;

export class HeldReadings {
  /** Readings not written yet, per series id, sorted. */
  private kept = new Map<number, Reading[]>();
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      insert: new RowWriter(db, "INSERT INTO readings (series_id, time, id, value)", 4),
      after: db.prepare(
        `SELECT time, id, value FROM readings WHERE series_id = ? AND (time > ? OR (time = ? AND id > ?))
         ORDER BY time, id LIMIT 1`,
      ),
      before: db.prepare(
        "SELECT time, id, value FROM readings WHERE series_id = ? AND time < ? ORDER BY time DESC, id DESC LIMIT 1",
      ),
      between: db.prepare(
        "SELECT time, id, value FROM readings WHERE series_id = ? AND time >= ? AND time < ? ORDER BY time, id",
      ),
    };
  }

  /** Keeps a reading until the next write, in its place among the series' others. */
  keep(seriesId: number, r: Reading): void {
    const list = this.kept.get(seriesId);
    if (!list) {
      this.kept.set(seriesId, [r]);
      return;
    }
    let i = list.length;
    while (i > 0 && compareReadings(list[i - 1] as Reading, r) > 0) i--;
    list.splice(i, 0, r);
  }

  /** Writes the readings kept, in key order, in the caller's transaction. */
  write(): void {
    const { insert } = this.sql;
    // Sorted natively, as a typed array sorts: the writes walk the table's pages once.
    for (const seriesId of Float64Array.from(this.kept.keys()).sort()) {
      for (const r of this.kept.get(seriesId) as Reading[]) insert.row(seriesId, r.time, r.id, toDb(r.value));
    }
    insert.end();
  }

  /** Forgets the readings kept, and any rows a failed write left in the writer. */
  clear(): void {
    this.sql.insert.clear();
    this.kept = new Map();
  }

  firstAfter(series: HeldSeries, r: Reading): Reading | null {
    const kept = this.kept.get(series.id)?.find((x) => compareReadings(x, r) > 0) ?? null;
    if (series.isNew) return kept;
    const row = this.sql.after.get(series.id, r.time, r.time, r.id) as Row | undefined;
    const stored = row ? toReading(row) : null;
    if (!stored || !kept) return stored ?? kept;
    return compareReadings(stored, kept) <= 0 ? stored : kept;
  }

  lastBefore(series: HeldSeries, time: number): Reading | null {
    const kept = this.kept.get(series.id)?.findLast((x) => x.time < time) ?? null;
    if (series.isNew) return kept;
    const row = this.sql.before.get(series.id, time) as Row | undefined;
    const stored = row ? toReading(row) : null;
    if (!stored || !kept) return stored ?? kept;
    return compareReadings(stored, kept) >= 0 ? stored : kept;
  }

  between(series: HeldSeries, from: number, to: number): Reading[] {
    const kept = (this.kept.get(series.id) ?? []).filter((x) => x.time >= from && x.time < to);
    if (series.isNew) return kept;
    const stored = (this.sql.between.all(series.id, from, to) as Row[]).map(toReading);
    return stored.length === 0 ? kept : [...stored, ...kept].sort(compareReadings);
  }
}

function toReading(row: Row): Reading {
  return { time: num(row.time), id: row.id as string, value: big(row.value) };
}
