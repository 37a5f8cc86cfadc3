// The derived half of the SQLite store: series, level readings, hourly rollups and the usage table's sums, in the
// derived database, on the derivation worker's thread (derive-worker.ts). All of it is a function of the event
// log (event_blocks), so none of it is written while a batch commits: the worker applies each committed block in
// memory and writes behind, in key order and in one transaction with a cursor (meta.rollup_seq, the first
// event it does not cover yet), every so many events, before every read and on close. After a crash the events
// after the cursor are applied again from the log, through the same code, and give exactly the same state.
// The usage table's sums, and the held series' latest readings (table latest) that they are the sums of, are written
// less often: only before a read, on close, or once the changes held for them are many, so that a sum that moves
// often is written once for many readings; a series' latest is also written when the series cache lets it go. Their
// own cursor (meta.usage_seq) then lags. Should a crash lose what memory held, the events from it to the rollups'
// cursor are applied again to the latest readings alone (their maximum is the same however often it was taken), and
// the sums are computed again from them.
// A held series' hourly rows move with each reading as held-rollups.ts says. Beside the hourly rows, a row per
// series and UTC day (derived-days.ts), written in the same transaction; a held series' latest day, which its next
// readings would move again, only with the usage table, and computed again from the readings on disk after a crash,
// for the days of the readings applied again.

import type Database from "better-sqlite3";
import { dayOf } from "../../domain/day-usage.js";
import type { HeldDay } from "../../domain/held-day.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { compareReadings, type HeldRow, type Reading } from "../../domain/rollup.js";
import { HOUR_MS, hourOf } from "../../domain/time.js";
import { ClockCache } from "./clock-cache.js";
import { CounterTable } from "./counter-table.js";
import { DerivedDays } from "./derived-days.js";
import { HeldRollups } from "./held-rollups.js";
import { fingerprint } from "./recent-keys.js";
import { RowWriter } from "./row-writer.js";
import type { UsageSnapshots } from "./usage-snapshots.js";
import { UsageSums } from "./usage-sums.js";
import { addExactly, big, Meta, num, SUM_EXACTLY, toDb } from "./values.js";

/** What derivation needs of one logged event (a UsageEvent is one). */
export interface DerivedEvent {
  readonly id: string;
  readonly account: string;
  readonly metric: string;
  readonly instance: string;
  /** The kept dims as dimsKey gives them: "" for none. */
  readonly dims: string;
  readonly kind: MetricKind;
  readonly time: number;
  /** Exact: a number is a safe integer (as most values are, and cheaper to add), a bigint anything. */
  readonly value: number | bigint;
}

interface SeriesState {
  readonly id: number;
  readonly serverId: number;
  readonly account: string;
  readonly metric: string;
  readonly instance: string;
  readonly dims: string;
  readonly kind: MetricKind;
  /** The hour of its first reading (held series only). */
  firstHour: number | null;
  lastTime: number | null;
  lastId: string | null;
  lastValue: bigint | null;
  /** The rollup row of the hour of the latest reading, as last written (held series only). */
  lastRow: HeldRow | null;
  /** The day it was last given a reading in (held series only). */
  lastDay: HeldDay | null;
  /** `lastDay` is not on disk yet. */
  dayPending: boolean;
  /** Not in the series table yet: it has no readings or rollups on disk either. */
  isNew: boolean;
  /** In `dirty`: to be written. */
  dirty: boolean;
  /** In the series cache: a series the cache let go has its latest reading written with the next write. */
  cached: boolean;
}

/**
 * A series' identity as one string: the key of `letGo`. Built only for a series not cached or let go while dirty,
 * and not kept with the series, where it would take a third of what a cached series holds.
 */
function seriesKey(serverId: number, account: string, metric: string, instance: string, dims: string): string {
  return `${serverId}\u0000${account}\u0000${metric}\u0000${dims === "" ? instance : `${instance}\u0000${dims}`}`;
}

type Row = Record<string, unknown>;

export interface DerivedStateOptions {
  /** Events applied in memory before they are written (tests set it low). */
  readonly flushEvents?: number;
  /** Series kept in memory (memory-budget.ts; tests set it low). */
  readonly seriesCacheSize: number;
  /** Bits of the series fingerprints used (tests set it low, so that series share fingerprints). */
  readonly fingerprintBits?: number;
  /** Changed usage sums held in memory, between reads, before they are written anyway (memory-budget.ts). */
  readonly usageFlushChanges: number;
}

/**
 * Events applied in memory before they are written: bounds both memory and the work of a restart after a crash.
 * Larger writes dirty fewer pages per row (a write rewrites every page it touches) and merge more counter rows.
 */
const DEFAULT_FLUSH_EVENTS = 50_000;

/**
 * Events after which the latest readings and the usage table's sums are written even with no read: bounds what a
 * restart after a crash applies again to the latest readings.
 */
const MAX_USAGE_LAG = 1_000_000;

export class DerivedState {
  /**
   * Series by 30 bits of a fingerprint of their key (a small integer, the cheapest key a Map has), each hit
   * confirmed against the series' fields: a string key must be built, copied and hashed for every event. A
   * series whose fingerprint a cached one shares (4 in 10,000 new series, with the cache full) takes its place;
   * the one it displaces is in `letGo` or on disk, and is looked for there when its fingerprint is taken.
   */
  private readonly series: ClockCache<number, SeriesState>;
  /** Every stored series is in the cache, so a miss is a new series and needs no lookup. */
  private complete = false;
  private nextSeriesId = 1;
  /** Series created since the last write, or whose latest reading moved since the last write of the usage table. */
  private dirty: SeriesState[] = [];
  /**
   * Those of `dirty` that the cache has let go, by seriesKey: found here when they come back, since a moved series'
   * latest reading is not on disk yet. Only these need the key built.
   */
  private letGo = new Map<string, SeriesState>();
  private readonly counters = new CounterTable();
  private readonly days: DerivedDays;
  /** Held series' rollup rows and readings, and their days, through `days`. */
  private readonly held: HeldRollups;
  /**
   * The rollups' cursor on disk, while the latest readings on disk lag it (after a crash or a failed write): the
   * events before it are applied to the latest readings alone, which are then written with the usage table's sums.
   */
  private replayUntil = 1;
  /** The days of the readings applied again to the latest readings alone, by series. */
  private replayDays = new Map<SeriesState, Set<number>>();
  /** The usage table's cursor on disk. */
  private usageWritten = 1;
  private pending = 0;
  /** The first event not applied: what the cursor says once everything in memory is written. */
  private applied = 1;
  private readonly sql;
  private readonly meta: Meta;
  /** The usage table's cells and sums, and the level changes held for them. */
  private readonly sums: UsageSums;
  private readonly flushEvents: number;
  private readonly usageFlushChanges: number;
  /** A mask of the series fingerprints' bits kept: 30, fewer in tests, which make fingerprints collide. */
  private readonly fingerprintMask: number;

  constructor(
    private readonly db: Database.Database,
    snapshots: UsageSnapshots,
    options: DerivedStateOptions,
  ) {
    this.flushEvents = options.flushEvents ?? DEFAULT_FLUSH_EVENTS;
    this.usageFlushChanges = options.usageFlushChanges;
    this.fingerprintMask = 2 ** Math.min(options.fingerprintBits ?? 30, 30) - 1;
    // Those not used lately make room for new ones.
    this.series = new ClockCache(options.seriesCacheSize);
    this.meta = new Meta(db);
    this.sums = new UsageSums(db, snapshots);
    addExactly(db);
    this.sql = {
      anySeries: db.prepare("SELECT 1 FROM series LIMIT 1").pluck(),
      maxSeriesId: db.prepare("SELECT coalesce(max(id), 0) FROM series").pluck(),
      seriesByKey: db.prepare(
        `SELECT s.id, l.first_hour, l.time, l.id AS reading_id, l.value FROM series s
         LEFT JOIN latest l ON l.series_id = s.id
         WHERE s.account = ? AND s.server_id = ? AND s.metric = ? AND s.instance = ? AND s.dims = ?`,
      ),
      setLatest: new RowWriter(db, "INSERT OR REPLACE INTO latest (series_id, first_hour, time, id, value)", 5),
      insertSeries: new RowWriter(db, "INSERT INTO series (id, server_id, account, metric, instance, dims, kind)", 7),
      // Numbers are INTEGER when they fit 64 bits and decimal TEXT beyond.
      addCounter: new RowWriter(
        db,
        "INSERT INTO counter_rollups (hour, series_id, count, sum)",
        4,
        `ON CONFLICT (hour, series_id) DO UPDATE SET count = count + excluded.count, ${SUM_EXACTLY}`,
      ),
    };
    this.days = new DerivedDays(db);
    this.held = new HeldRollups(db, this.days);
    this.discard();
  }

  /** The first event that the state, in memory and on disk, does not cover. */
  get cursor(): number {
    return this.applied;
  }

  /** The first event that no part of the state on disk covers: past the cursor while the latest readings catch up. */
  get covered(): number {
    return Math.max(this.applied, this.replayUntil);
  }

  /** Applies one event, the next in sequence. */
  apply(e: DerivedEvent, serverId: number, seq: number): void {
    const series = this.seriesFor(e, serverId);
    if (seq < this.replayUntil) {
      if (isHeld(series.kind)) this.replayReading(series, { time: e.time, id: e.id, value: BigInt(e.value) });
      this.applied = seq + 1;
      if (this.applied === this.replayUntil) this.endReplay();
      return;
    }
    if (isHeld(series.kind)) {
      this.addReading(series, { time: e.time, id: e.id, value: BigInt(e.value) });
    } else {
      this.counters.add(series.id, Math.floor(e.time / HOUR_MS), e.value);
    }
    this.pending++;
    this.applied = seq + 1;
  }

  /** Writes behind once enough events are held in memory; the usage table only once its changes are many. */
  flushIfFull(): void {
    if (this.pending >= this.flushEvents) {
      const many = Math.max(this.sums.size, this.days.pendingDays) >= this.usageFlushChanges;
      this.write(many || this.applied - this.usageWritten >= MAX_USAGE_LAG);
    }
  }

  /** Writes everything held in memory and the cursors, in one transaction: before a read, and on close. */
  flush(): void {
    this.write(true);
  }

  /**
   * Writes what memory holds, the usage table's changes and the latest readings too if `usage` (or if there are no
   * changes), and the cursors.
   */
  private write(usage: boolean): void {
    // Nothing to write while applying again to the latest readings (the end of which writes them), and the rollups'
    // cursor must not go back.
    if (this.applied < this.replayUntil) return;
    if (this.pending === 0 && this.dirty.length === 0 && this.sums.size === 0 && this.days.pendingDays === 0) return;
    const withUsage = usage || this.sums.size === 0;
    this.db.transaction(() => {
      this.writeSeries(withUsage);
      // Each in key order, so the writes walk the tables' pages once instead of jumping between them.
      this.held.write();
      const { addCounter } = this.sql;
      // A sum is bound as an INTEGER (a bigint), never as the REAL a number would be.
      this.counters.forEach((hourIndex, seriesId, count, sum) => {
        addCounter.row(hourIndex * HOUR_MS, seriesId, count, toDb(BigInt(sum)));
        this.days.addCounter(seriesId, hourIndex, sum, count);
      });
      addCounter.end();
      this.days.write(withUsage);
      if (withUsage) {
        this.sums.write(this.applied);
        this.meta.set("usage_seq", this.applied);
        this.usageWritten = this.applied;
      }
      this.meta.set("rollup_seq", this.applied);
    })();
    this.seriesWritten(withUsage);
    this.clearPending();
    if (withUsage) this.sums.forget();
  }

  /** After writeSeries: every series is on disk, and only held ones in the cache may be left to write (not `all`). */
  private seriesWritten(all: boolean): void {
    for (const s of this.dirty) {
      s.isNew = false;
      s.dirty = !all && s.cached && s.lastTime !== null;
    }
    this.dirty = all ? [] : this.dirty.filter((s) => s.dirty);
    this.letGo = new Map();
  }

  /** Forgets what memory holds for the tables other than the usage table's, series' and days' (which write forgets). */
  private clearPending(): void {
    this.counters.clear();
    this.held.clear();
    this.pending = 0;
  }

  /** Forgets all derived state, on disk and in memory: every event must be applied again (a rebuild). */
  reset(): void {
    this.db.exec(
      `DELETE FROM rollups; DELETE FROM counter_rollups; DELETE FROM days; DELETE FROM readings; DELETE FROM latest;
       DELETE FROM series`,
    );
    this.sums.clear();
    this.meta.set("rollup_seq", 1);
    this.meta.set("usage_seq", 1);
    this.discard();
  }

  /**
   * Forgets everything not written, as after a crash or a failed write (whose rows the writers still hold): the
   * events after the usage table's cursor must be applied again, those before the rollups' cursor to the latest
   * readings alone, after which the usage table is computed again.
   */
  discard(): void {
    for (const writer of Object.values(this.sql)) if (writer instanceof RowWriter) writer.clear();
    this.series.clear();
    this.dirty = [];
    this.letGo = new Map();
    this.clearPending();
    this.days.clear();
    this.replayDays = new Map();
    this.sums.discard();
    // Not written now: discarding follows a failed write, and must not fail itself.
    this.replayUntil = this.meta.get("rollup_seq", 1);
    this.applied = Math.min(this.meta.get("usage_seq", 1), this.replayUntil);
    this.usageWritten = this.applied;
    this.complete = this.sql.anySeries.get() === undefined;
    this.nextSeriesId = num(this.sql.maxSeriesId.get()) + 1;
  }

  /**
   * A reading applied again to its series' latest alone, its day to be computed again once the latest are caught
   * up: its other rows, and every series, are on disk already.
   */
  private replayReading(series: SeriesState, r: Reading): void {
    const days = this.replayDays.get(series);
    if (days) days.add(dayOf(r.time));
    else this.replayDays.set(series, new Set([dayOf(r.time)]));
    if (series.firstHour === null || r.time < series.firstHour) series.firstHour = hourOf(r.time);
    if (series.lastTime === null || compareReadings(r, this.lastReading(series) as Reading) > 0) {
      series.lastTime = r.time;
      series.lastId = r.id;
      series.lastValue = r.value;
    }
    this.markDirty(series);
  }

  /**
   * The latest readings caught up with the rollups' cursor: writes them, the days the readings applied again are in,
   * computed again from the readings on disk, and the usage table again from the latest (see UsageSums.recompute),
   * with the usage cursor.
   */
  private endReplay(): void {
    this.db.transaction(() => {
      this.writeSeries(true);
      for (const [series, days] of this.replayDays) for (const day of days) this.held.recomputeDay(series, day);
      this.days.write(true);
      this.sums.recompute(this.applied);
      this.meta.set("usage_seq", this.applied);
      this.usageWritten = this.applied;
    })();
    this.seriesWritten(true);
    this.replayDays = new Map();
  }

  private seriesFor(e: DerivedEvent, serverId: number): SeriesState {
    // The server id is mixed in as a number: as a string it would be built for every event.
    const instance = e.dims === "" ? e.instance : `${e.instance}\u0000${e.dims}`;
    const fp = (fingerprint(e.account, e.metric, instance) ^ Math.imul(serverId, 0x9e3779b1)) & this.fingerprintMask;
    const cached = this.series.get(fp);
    if (
      cached &&
      cached.serverId === serverId &&
      cached.account === e.account &&
      cached.metric === e.metric &&
      cached.instance === e.instance &&
      cached.dims === e.dims
    ) {
      return cached;
    }
    const key = seriesKey(serverId, e.account, e.metric, e.instance, e.dims);
    // A fingerprint another series holds may be one this series lost to it: only a free one proves it new.
    const state = this.letGo.get(key) ?? this.loadSeries(e, serverId, cached !== undefined);
    state.cached = true;
    if (cached) {
      this.series.replace(fp, state);
      this.remember(cached);
    } else {
      const gone = this.series.add(fp, state);
      if (gone) {
        // Once a series has gone from the cache, a miss no longer proves a series new.
        this.complete = false;
        this.remember(gone);
      }
    }
    return state;
  }

  /** A series the cache let go: kept by key until the next write if it is to be written. */
  private remember(series: SeriesState): void {
    series.cached = false;
    this.days.letGo(series);
    if (series.dirty) {
      this.letGo.set(seriesKey(series.serverId, series.account, series.metric, series.instance, series.dims), series);
    }
  }

  /** A series not in memory: as stored, or new. */
  private loadSeries(e: DerivedEvent, serverId: number, mayBeStored: boolean): SeriesState {
    // A stored held series goes on from its latest reading, on disk: everything it held in memory is written.
    const stored =
      this.complete && !mayBeStored
        ? undefined
        : (this.sql.seriesByKey.get(e.account, serverId, e.metric, e.instance, e.dims) as Row | undefined);
    const last = stored?.time === null ? undefined : stored;
    const state: SeriesState = {
      id: stored !== undefined ? num(stored.id) : this.nextSeriesId++,
      serverId,
      account: e.account,
      metric: e.metric,
      instance: e.instance,
      dims: e.dims,
      kind: e.kind,
      firstHour: last ? num(last.first_hour) : null,
      lastTime: last ? num(last.time) : null,
      lastId: last ? (last.reading_id as string) : null,
      lastValue: last ? big(last.value) : null,
      lastRow: null,
      lastDay: null,
      dayPending: false,
      isNew: stored === undefined,
      dirty: false,
      cached: false,
    };
    if (state.isNew) this.markDirty(state);
    return state;
  }

  /** Puts a series in `dirty`, once per write. */
  private markDirty(series: SeriesState): void {
    if (series.dirty) return;
    series.dirty = true;
    this.dirty.push(series);
  }

  /** Inserts the series created, and writes the latest readings of those that moved: all, or those let go. */
  private writeSeries(all: boolean): void {
    const created = this.dirty.filter((s) => s.isNew);
    // About in the order of the series' unique index, so its inserts walk it once: UTF-16 order, cheaper to compare,
    // differs from the index's UTF-8 order only for characters beyond U+FFFF, and the order is only for speed.
    created.sort((a, b) =>
      a.account !== b.account
        ? a.account < b.account
          ? -1
          : 1
        : a.serverId - b.serverId || (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0),
    );
    const { insertSeries } = this.sql;
    for (const s of created) insertSeries.row(s.id, s.serverId, s.account, s.metric, s.instance, s.dims, s.kind);
    insertSeries.end();
    // The held series that moved: their latest readings, in id order.
    const { setLatest } = this.sql;
    const moved = this.dirty.filter((s) => s.lastTime !== null && (all || !s.cached)).sort((a, b) => a.id - b.id);
    for (const s of moved) setLatest.row(s.id, s.firstHour, s.lastTime, s.lastId, toDb(s.lastValue as bigint));
    setLatest.end();
  }

  /** Moves a held series' rollups, day and latest reading, and its usage sum if a level, by a reading. */
  private addReading(series: SeriesState, r: Reading): void {
    if (series.firstHour === null || r.time < series.firstHour) {
      series.firstHour = hourOf(r.time);
      this.markDirty(series);
    }
    const last = this.lastReading(series);
    this.held.add(series, last, r);
    if (last && compareReadings(r, last) < 0) return;
    if (series.kind === "level")
      this.sums.move(series.id, series.metric, series.account, series.serverId, r.value - (series.lastValue ?? 0n));
    series.lastTime = r.time;
    series.lastId = r.id;
    series.lastValue = r.value;
    this.markDirty(series);
  }

  private lastReading(series: SeriesState): Reading | null {
    return series.lastTime === null
      ? null
      : { time: series.lastTime, id: series.lastId as string, value: series.lastValue as bigint };
  }
}
