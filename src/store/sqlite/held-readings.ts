// The readings of held (level and state) series as derivation sees them: those on disk in the derived database and
// those applied since the last write, kept in memory per series, sorted, until they are written.
//
// On disk an hour's latest reading is kept whole in its rollup row (last_time, last_id, last), and the readings table
// holds only the hour's others: a series read at most once an hour writes no reading rows. A reading that stops being
// its hour's latest (a later one in the same hour, or a late one after it) is kept again, to get a row of its own.
//
// On disk they are ordered by hour, then series, so that a write appends to the end of the table. A series'
// readings around a time are found by looking at one hour after another, within the hours the series has readings
// in (from its first reading's hour to its latest's): one lookup for a series read every hour.

import type Database from "better-sqlite3";
import { compareReadings, type HeldRow, type Reading } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { RowWriter } from "./row-writer.js";
import { big, num, toDb } from "./values.js";

/** What the readings of a series need to know of it: the hours its readings span (none on disk for a new one). */
export interface HeldSeries {
  readonly id: number;
  readonly isNew: boolean;
  /** The hour of its first reading, and the time of its latest, in memory or on disk; null before the first. */
  readonly firstHour: number | null;
  readonly lastTime: number | null;
}

type Row = Record<string, unknown>;

export class HeldReadings {
  /** Readings not written yet, per series id, sorted. */
  private kept = new Map<number, Reading[]>();
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      insert: new RowWriter(db, "INSERT INTO readings (hour, series_id, time, id, value)", 5),
      after: db.prepare(`${HOUR_READINGS} WHERE time > $time OR (time = $time AND id > $id) ORDER BY time, id LIMIT 1`),
      before: db.prepare(`${HOUR_READINGS} WHERE time < $time ORDER BY time DESC, id DESC LIMIT 1`),
      between: db.prepare(`${HOUR_READINGS} WHERE time >= $time AND time < $to ORDER BY time, id`),
    };
  }

  /** Keeps a reading until the next write, in its place among the series' others, unless it is kept already. */
  keep(seriesId: number, r: Reading): void {
    const list = this.kept.get(seriesId);
    if (!list) {
      this.kept.set(seriesId, [r]);
      return;
    }
    let i = list.length;
    let order = 1;
    while (i > 0) {
      order = compareReadings(list[i - 1] as Reading, r);
      if (order <= 0) break;
      i--;
    }
    if (order !== 0) list.splice(i, 0, r);
  }

  /**
   * Writes the readings kept, in key order, in the caller's transaction: all but those that `rowOf` (the rollup row
   * a series has for an hour as it will be written) keeps as its hour's latest.
   */
  write(rowOf: (hour: number, seriesId: number) => HeldRow | undefined): void {
    const { insert } = this.sql;
    const rows: [number, number, Reading][] = [];
    for (const [seriesId, list] of this.kept) {
      for (const r of list) {
        const hour = hourOf(r.time);
        const row = rowOf(hour, seriesId);
        if (row?.lastTime !== r.time || row.lastId !== r.id) rows.push([hour, seriesId, r]);
      }
    }
    // A series' readings are sorted already, and sort is stable.
    rows.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [hour, seriesId, r] of rows) insert.row(hour, seriesId, r.time, r.id, toDb(r.value));
    insert.end();
  }

  /** Forgets the readings kept, and any rows a failed write left in the writer. */
  clear(): void {
    this.sql.insert.clear();
    this.kept = new Map();
  }

  firstAfter(series: HeldSeries, r: Reading): Reading | null {
    const kept = this.kept.get(series.id)?.find((x) => compareReadings(x, r) > 0) ?? null;
    if (series.isNew || series.lastTime === null) return kept;
    // Nothing stored lies beyond the kept reading found, or beyond the series' latest.
    const until = hourOf(kept?.time ?? series.lastTime);
    let stored: Reading | null = null;
    for (let hour = hourOf(r.time); hour <= until && !stored; hour += HOUR_MS) {
      const row = this.sql.after.get({ hour, series: series.id, time: r.time, id: r.id }) as Row | undefined;
      if (row) stored = toReading(row);
    }
    if (!stored || !kept) return stored ?? kept;
    return compareReadings(stored, kept) <= 0 ? stored : kept;
  }

  lastBefore(series: HeldSeries, time: number): Reading | null {
    const kept = this.kept.get(series.id)?.findLast((x) => x.time < time) ?? null;
    if (series.isNew || series.firstHour === null) return kept;
    const until = kept === null ? series.firstHour : hourOf(kept.time);
    let stored: Reading | null = null;
    for (let hour = hourOf(time); hour >= until && !stored; hour -= HOUR_MS) {
      const row = this.sql.before.get({ hour, series: series.id, time }) as Row | undefined;
      if (row) stored = toReading(row);
    }
    if (!stored || !kept) return stored ?? kept;
    return compareReadings(stored, kept) >= 0 ? stored : kept;
  }

  /** The readings in [from, to), from hour-aligned `from`. */
  between(series: HeldSeries, from: number, to: number): Reading[] {
    const kept = (this.kept.get(series.id) ?? []).filter((x) => x.time >= from && x.time < to);
    if (series.isNew || series.firstHour === null || series.lastTime === null) return kept;
    const stored: Reading[] = [];
    const last = Math.min(to - 1, series.lastTime);
    for (let hour = Math.max(hourOf(from), series.firstHour); hour <= last; hour += HOUR_MS) {
      for (const row of this.sql.between.all({ hour, series: series.id, time: from, to }) as Row[]) {
        stored.push(toReading(row));
      }
    }
    if (stored.length === 0) return kept;
    // A reading that stopped being its hour's latest is both kept and, until the next write, in its hour's row.
    return [...stored, ...kept]
      .sort(compareReadings)
      .filter((x, i, all) => i === 0 || compareReadings(all[i - 1] as Reading, x) !== 0);
  }
}

/** A series' readings of one hour on disk: the readings table's, and the latest, which its rollup row keeps. */
const HOUR_READINGS = `SELECT time, id, value FROM (
  SELECT time, id, value FROM readings WHERE hour = $hour AND series_id = $series
  UNION ALL
  SELECT last_time, last_id, last FROM rollups WHERE hour = $hour AND series_id = $series
)`;

function toReading(row: Row): Reading {
  return { time: num(row.time), id: row.id as string, value: big(row.value) };
}
