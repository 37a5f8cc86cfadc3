// The hourly rollup rows and days of held (level and state) series as derivation moves them, one reading at a
// time, in memory until the derived state writes (derived-state.ts). A reading after the series' latest is
// appended to the latest's row with appendReading; a late one has the hours from it to the next reading
// recomputed from the series' readings with heldRows, the same rows PostgreSQL keeps (rollup.ts).
// A held series keeps rows only for the hours that have readings: an hour wholly between two readings is a pure
// function of the row before it, and most of the rows of a level read less often than hourly. And a row is left
// open after the hour's latest reading (its integral stops there, at last_time): reads close it to the hour's end
// once a later row follows, so a reading in a new hour writes one row, not two.

import type Database from "better-sqlite3";
import { DAY_MS, dayOf } from "../../domain/day-usage.js";
import { addDayReading, type HeldDay } from "../../domain/held-day.js";
import { appendReading, compareReadings, type HeldRow, heldRows, type Reading } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import type { DaySeries, DerivedDays } from "./derived-days.js";
import { HeldReadings, type HeldSeries } from "./held-readings.js";
import { RowWriter, sortedKeys } from "./row-writer.js";
import { big, num, toDb } from "./values.js";

/** What the rollups need of a held series: its readings' span, its days, and its latest hour's row. */
export interface HeldRollupSeries extends HeldSeries, DaySeries {
  /** The rollup row of the hour of the latest reading, as last written; null when not known. */
  lastRow: HeldRow | null;
}

export class HeldRollups {
  /** Rows to write, per hour, per series id: the order of the table. */
  private rows = new Map<number, Map<number, HeldRow>>();
  /** The series' readings, on disk and not written yet. */
  private readonly readings: HeldReadings;
  private readonly sql;

  /** `db` must already have been given addExactly. */
  constructor(
    db: Database.Database,
    private readonly days: DerivedDays,
  ) {
    this.readings = new HeldReadings(db);
    this.sql = {
      heldRow: db
        .prepare("SELECT count, last, max, integral, last_time, last_id FROM rollups WHERE hour = ? AND series_id = ?")
        .raw(),
      // Each row is written whole: a REPLACE costs SQLite less than an upsert that sets every column.
      setHeld: new RowWriter(
        db,
        "INSERT OR REPLACE INTO rollups (hour, series_id, count, last, max, integral, last_time, last_id)",
        8,
      ),
    };
  }

  /**
   * Moves a series' rows and day by a reading, given the series' latest reading before it (null for the first);
   * `series.firstHour` must already take the reading in.
   */
  add(series: HeldRollupSeries, last: Reading | null, r: Reading): void {
    this.readings.keep(series.id, r);
    if (last && compareReadings(r, last) < 0) {
      series.lastRow = null;
      this.recompute(series, r);
      return;
    }
    const hour = hourOf(r.time);
    let lastRow: HeldRow | null = null;
    if (last && hourOf(last.time) === hour) {
      lastRow = series.lastRow?.hour === hour ? series.lastRow : this.rowAt(series.id, hour);
      // No longer its hour's latest, which the hour's row keeps: it needs a readings row of its own.
      this.readings.keep(series.id, last);
    }
    const row = appendReading(last, lastRow, r);
    this.set(series.id, row);
    series.lastRow = row;
    const day = dayOf(r.time);
    this.days.setHeldDay(
      series,
      addDayReading(last && last.time >= day ? this.days.heldDayAt(series, day) : null, last, r, null),
    );
  }

  /** Computes a series' day again from its readings, in memory and on disk (after a crash). */
  recomputeDay(series: HeldRollupSeries, day: number): void {
    let held: HeldDay | null = null;
    let before: Reading | null = null;
    for (const r of this.readings.between(series, day, day + DAY_MS)) {
      held = addDayReading(held, before, r, null);
      before = r;
    }
    if (held) this.days.setHeldDay(series, held);
  }

  /** Writes the readings and rows held, in key order, in the caller's transaction. */
  write(): void {
    this.readings.write((hour, seriesId) => this.rows.get(hour)?.get(seriesId));
    const { setHeld } = this.sql;
    for (const hour of sortedKeys(this.rows)) {
      const rows = this.rows.get(hour) as Map<number, HeldRow>;
      for (const seriesId of sortedKeys(rows)) {
        const { count, last, max, integral, lastTime, lastId } = rows.get(seriesId) as HeldRow;
        setHeld.row(hour, seriesId, count, toDb(last), toDb(max), toDb(integral), lastTime, lastId);
      }
    }
    setHeld.end();
  }

  /** Forgets what memory holds, written or not, and any rows a failed write left in the writers. */
  clear(): void {
    this.sql.setHeld.clear();
    this.rows = new Map();
    this.readings.clear();
  }

  private rowAt(seriesId: number, hour: number): HeldRow {
    const kept = this.rows.get(hour)?.get(seriesId);
    if (kept) return kept;
    const [count, last, max, integral, lastTime, lastId] = this.sql.heldRow.get(hour, seriesId) as [
      bigint,
      unknown,
      unknown,
      unknown,
      bigint,
      string,
    ];
    return {
      hour,
      count: num(count),
      last: big(last),
      max: big(max),
      integral: big(integral),
      lastTime: num(lastTime),
      lastId,
    };
  }

  private set(seriesId: number, row: HeldRow): void {
    const rows = this.rows.get(row.hour);
    if (rows) rows.set(seriesId, row);
    else this.rows.set(row.hour, new Map([[seriesId, row]]));
  }

  /**
   * A reading arrived before the series' latest: recompute the whole hours from it to the next reading from the
   * series' readings, and move its day by it.
   */
  private recompute(series: HeldRollupSeries, r: Reading): void {
    const next = this.readings.firstAfter(series, r) as Reading;
    const fromHour = hourOf(r.time);
    const toHour = hourOf(next.time);
    const endTime = toHour + HOUR_MS;
    const carry = this.readings.lastBefore(series, fromHour);
    const readings = this.readings.between(series, fromHour, endTime);
    // Ids are never empty, so the first reading after (endTime, "") is the first at or after endTime.
    const after = this.readings.firstAfter(series, { time: endTime, id: "", value: 0n });
    for (const row of heldRows(carry, readings, fromHour, toHour, after?.time ?? null, true)) this.set(series.id, row);
    const i = readings.findIndex((x) => compareReadings(x, r) === 0);
    const before = i > 0 ? (readings[i - 1] as Reading) : carry;
    // A reading of r's hour that r follows as the hour's latest needs a readings row of its own now.
    const following = readings[i + 1];
    if (i > 0 && !(following && following.time < fromHour + HOUR_MS)) this.readings.keep(series.id, before as Reading);
    this.days.setHeldDay(series, addDayReading(this.days.heldDayAt(series, dayOf(r.time)), before, r, next));
  }
}
