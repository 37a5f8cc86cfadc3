// The SQLite store's dedup index over (server, id) event keys, by 53-bit fingerprint; the store confirms every
// match against the stored event, so dedup is exact. A unique B-tree index on random keys costs several
// microseconds per insert, so the fingerprints of recent events live in a fixed-size table in memory and move
// to the on-disk `event_keys` table in bulk and nearly in key order. When the table in memory is half full it is
// frozen and a fresh one takes new keys, while each following batch moves a slice of the frozen one to disk,
// inside its own transaction: no batch waits for a whole merge. meta.dedup_seq says up to which event every key
// is on disk.
// A Bloom filter over the fingerprints on disk spares most batches their lookup there: every key moved is added
// to it, and those on disk at start are read into it a slice per batch; until that is done, every batch looks.

import type Database from "better-sqlite3";
import { FingerprintFilter } from "./fingerprint-filter.js";
import { RecentKeys } from "./recent-keys.js";
import { RowWriter } from "./row-writer.js";
import { Meta, num } from "./values.js";

const NONE: readonly number[] = [];
/** Fingerprints read into the filter per batch: 10 million keys on disk take 150 batches. */
const SCAN_SLICE = 65_536;

export class DedupKeys {
  private active: RecentKeys;
  /** The generation being moved to disk, and the first of its slots not moved yet. */
  private frozen: RecentKeys | null = null;
  private moved = 0;
  private frozenMaxSeq = 0;
  private activeMaxSeq = 0;
  private spare: RecentKeys | null = null;
  private onDisk: boolean;
  /** Fingerprints of the current batch found on disk when it began, with their events' sequence numbers. */
  private matches = new Map<number, number[]>();
  private batchFps: readonly number[] = [];
  private readonly slice: number;
  private readonly sql;
  private readonly meta: Meta;
  private readonly filter: FingerprintFilter;
  /** The fingerprint after which the filter has not read the disk yet; null once it has read it all. */
  private scanAfter: number | null = 0;

  constructor(
    db: Database.Database,
    private readonly slots: number,
    /** The filter's size (memory-budget.ts): 2^27 bits, 16 MiB, give about one false positive in 230 at 10 million keys on disk. */
    filterBits: number,
    private readonly scanSlice = SCAN_SLICE,
  ) {
    this.filter = new FingerprintFilter(filterBits);
    this.active = new RecentKeys(slots);
    // Slots moved per batch: a frozen generation goes within 32 batches.
    this.slice = Math.max(1, Math.ceil(slots / 32));
    this.meta = new Meta(db);
    this.sql = {
      anyOnDisk: db.prepare("SELECT 1 FROM event_keys LIMIT 1").pluck(),
      scan: db.prepare("SELECT fp FROM event_keys WHERE fp > ? ORDER BY fp LIMIT ?").pluck(),
      onDisk: db.prepare("SELECT fp, seq FROM event_keys WHERE fp IN (SELECT value FROM json_each(?))").raw(),
      // A move cut short by a crash is done again from the blocks: keys already there are kept.
      insert: new RowWriter(db, "INSERT OR IGNORE INTO event_keys (fp, seq)", 2),
      blocksAfter: db.prepare(
        "SELECT first_seq, fps FROM event_blocks WHERE first_seq + count - 1 > ? ORDER BY first_seq",
      ),
    };
    this.onDisk = false;
  }

  /** Forgets the memory and reads it again from the fingerprints of the blocks whose keys may not be on disk. */
  load(): void {
    this.sql.insert.clear();
    this.active.clear();
    this.frozen = null;
    this.moved = 0;
    this.activeMaxSeq = 0;
    this.matches = new Map();
    this.onDisk = this.sql.anyOnDisk.get() !== undefined;
    const merged = this.meta.get("dedup_seq", 0);
    for (const row of this.sql.blocksAfter.all(merged) as { first_seq: bigint; fps: Buffer }[]) {
      const first = num(row.first_seq);
      const fps = new Float64Array(new Uint8Array(row.fps).buffer);
      for (let i = 0; i < fps.length; i++) {
        if (first + i <= merged) continue;
        if (this.active.size >= this.slots / 2) this.makeRoom();
        this.put(fps[i] as number, first + i);
      }
    }
  }

  /** At the start of a batch, in its transaction: makes room in memory and finds which of its keys are on disk. */
  begin(fps: readonly number[]): void {
    if (this.scanAfter !== null) this.scan();
    if (this.frozen && this.moveDone) this.release();
    if (this.active.size >= this.slots / 2) this.makeRoom();
    this.batchFps = fps;
    this.matches = this.readDisk(fps);
  }

  /** Sequence numbers of the stored events that may have this fingerprint: usually none, rarely more than one. */
  candidates(fp: number): readonly number[] {
    const disk = this.matches.get(fp);
    const inFrozen = this.frozen?.has(fp) ?? false;
    if (!disk && !inFrozen && !this.active.has(fp)) return NONE;
    const frozen = inFrozen ? (this.frozen as RecentKeys).candidates(fp) : NONE;
    return [...this.active.candidates(fp), ...frozen, ...(disk ?? NONE)];
  }

  /** Adds the key of an event just stored in this batch. */
  add(fp: number, seq: number): void {
    // Only a batch larger than a quarter of the table gets here: move everything now, then look at disk again.
    if (this.active.size >= (this.slots * 3) / 4) {
      this.moveAll();
      this.matches = this.readDisk(this.batchFps);
    }
    this.put(fp, seq);
  }

  /** At the end of a batch, in its transaction: moves the next slice of the frozen generation to disk. */
  step(): void {
    const frozen = this.frozen;
    if (!frozen || this.moveDone) return;
    const end = Math.min(frozen.capacity, this.moved + this.slice);
    for (let i = this.moved; i < end; i++) {
      const fp = frozen.fingerprintAt(i);
      if (fp === 0) continue;
      this.sql.insert.row(fp, frozen.seqAt(i));
      this.filter.add(fp);
    }
    this.sql.insert.end();
    this.moved = end;
    if (end === frozen.capacity) this.meta.set("dedup_seq", this.frozenMaxSeq);
    this.onDisk = true;
  }

  /** Moves what is left of the frozen generation, so that the next open reads fewer keys (on close). */
  finish(): void {
    while (this.frozen && !this.moveDone) this.step();
  }

  private get moveDone(): boolean {
    return this.frozen !== null && this.moved === this.frozen.capacity;
  }

  private put(fp: number, seq: number): void {
    this.active.add(fp, seq);
    if (seq > this.activeMaxSeq) this.activeMaxSeq = seq;
  }

  /** Freezes the table in memory, once the generation frozen before it is on disk. */
  private makeRoom(): void {
    if (this.frozen) {
      this.finish();
      this.release();
    }
    this.frozen = this.active;
    this.frozenMaxSeq = this.activeMaxSeq;
    this.moved = 0;
    this.active = this.spare ?? new RecentKeys(this.slots);
    this.spare = null;
  }

  private release(): void {
    this.frozen?.clear();
    this.spare = this.frozen;
    this.frozen = null;
    this.moved = 0;
  }

  private moveAll(): void {
    this.makeRoom();
    this.finish();
    this.release();
  }

  /** Reads the next slice of the fingerprints on disk into the filter. */
  private scan(): void {
    const after = this.scanAfter as number;
    const fps = this.sql.scan.all(after, this.scanSlice) as bigint[];
    for (const fp of fps) this.filter.add(num(fp));
    this.scanAfter = fps.length < this.scanSlice ? null : num(fps.at(-1));
  }

  private readDisk(fps: readonly number[]): Map<number, number[]> {
    const matches = new Map<number, number[]>();
    if (!this.onDisk) return matches;
    const look = this.scanAfter === null ? fps.filter((fp) => this.filter.mayHave(fp)) : fps;
    if (look.length === 0) return matches;
    for (const [fp, seq] of this.sql.onDisk.all(JSON.stringify(look)) as [bigint, bigint][]) {
      const list = matches.get(num(fp));
      if (list) list.push(num(seq));
      else matches.set(num(fp), [num(seq)]);
    }
    return matches;
  }
}
