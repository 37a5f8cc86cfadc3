// The days table as derivation keeps it (a row per series and UTC day, which a read closes: held-day.ts): counters'
// sums added with the same deltas as their hours, a held series' day moved with each of its readings. Held in
// memory until the derived state writes, in key order, in its transaction; a held series' latest day, which its next
// readings would move again, is kept on the series and written only when the derived state writes everything
// (derived-state.ts says when) or lets the series go.

import type Database from "better-sqlite3";
import { DAY_MS } from "../../domain/day-usage.js";
import type { HeldDay } from "../../domain/held-day.js";
import { HOUR_MS } from "../../domain/time.js";
import { CounterTable } from "./counter-table.js";
import { RowWriter, sortedKeys } from "./row-writer.js";
import { big, num, SUM_EXACTLY, toDb } from "./values.js";

/** What the days need of a held series: its id, whether it is on disk yet, and the day it was last given. */
export interface DaySeries {
  readonly id: number;
  readonly isNew: boolean;
  /** The day it was last given a reading in. */
  lastDay: HeldDay | null;
  /** `lastDay` is not on disk yet. */
  dayPending: boolean;
}

export class DerivedDays {
  /** Counters' sums by day, added as their hourly rows are written. */
  private readonly counters = new CounterTable();
  /** Held series' days to write with the next write, per day, per series id: none a series' lastDay. */
  private held = new Map<number, Map<number, HeldDay>>();
  /** Held series whose lastDay may be pending: written with a write of everything, or when the cache lets one go. */
  private pending: DaySeries[] = [];
  private readonly sql;

  /** `db` must already have been given addExactly. */
  constructor(db: Database.Database) {
    this.sql = {
      addCounter: new RowWriter(
        db,
        "INSERT INTO days (day, series_id, count, sum)",
        4,
        `ON CONFLICT (day, series_id) DO UPDATE SET count = count + excluded.count, ${SUM_EXACTLY}`,
      ),
      heldDay: db.prepare("SELECT count, integral, first_time, last FROM days WHERE day = ? AND series_id = ?").raw(),
      // Written whole, as held rollup rows are; `sum` is left null, as a held series' day never has one.
      setHeld: new RowWriter(db, "INSERT OR REPLACE INTO days (day, series_id, count, integral, first_time, last)", 6),
    };
  }

  /** Adds a counter's hourly delta to its day. */
  addCounter(seriesId: number, hourIndex: number, sum: number | bigint, count: number): void {
    this.counters.add(seriesId, Math.floor((hourIndex * HOUR_MS) / DAY_MS), sum, count);
  }

  /** A held series' day as it stands, in memory or on disk; null when it has no readings yet. */
  heldDayAt(series: DaySeries, day: number): HeldDay | null {
    if (series.lastDay?.day === day) return series.lastDay;
    const kept = this.held.get(day)?.get(series.id);
    if (kept || series.isNew) return kept ?? null;
    const row = this.sql.heldDay.get(day, series.id) as [bigint, unknown, bigint, unknown] | undefined;
    if (!row) return null;
    const [count, integral, firstTime, last] = row;
    return { day, count: num(count), integral: big(integral), firstTime: num(firstTime), last: big(last) };
  }

  /** A held series' day moved by a reading; the day it was last given before, if another, is written next time. */
  setHeldDay(series: DaySeries, d: HeldDay): void {
    const previous = series.lastDay;
    if (series.dayPending && previous !== null && previous.day !== d.day) this.put(series.id, previous);
    this.held.get(d.day)?.delete(series.id);
    series.lastDay = d;
    if (!series.dayPending) {
      series.dayPending = true;
      this.pending.push(series);
    }
  }

  /** Held series whose latest day may not be written. */
  get pendingDays(): number {
    return this.pending.length;
  }

  /** A series the cache lets go: its pending day joins the days to write, where the series is looked for next. */
  letGo(series: DaySeries): void {
    if (!series.dayPending) return;
    this.put(series.id, series.lastDay as HeldDay);
    series.dayPending = false;
  }

  /**
   * Writes what memory holds in the table's key order, but the held series' pending days unless `all`, and forgets
   * it; the caller holds the transaction.
   */
  write(all: boolean): void {
    const { addCounter, setHeld } = this.sql;
    this.counters.forEach((dayIndex, seriesId, count, sum) => {
      addCounter.row(dayIndex * DAY_MS, seriesId, count, toDb(BigInt(sum)));
    });
    addCounter.end();
    this.counters.clear();
    if (all) {
      for (const series of this.pending) this.letGo(series);
      this.pending = [];
    }
    for (const day of sortedKeys(this.held)) {
      const days = this.held.get(day) as Map<number, HeldDay>;
      for (const seriesId of sortedKeys(days)) {
        const d = days.get(seriesId) as HeldDay;
        setHeld.row(day, seriesId, d.count, toDb(d.integral), d.firstTime, toDb(d.last));
      }
    }
    setHeld.end();
    this.held = new Map();
  }

  private put(seriesId: number, d: HeldDay): void {
    const days = this.held.get(d.day);
    if (days) days.set(seriesId, d);
    else this.held.set(d.day, new Map([[seriesId, d]]));
  }

  /** Forgets what memory holds, written or not. */
  clear(): void {
    this.counters.clear();
    this.held = new Map();
    this.pending = [];
  }
}
