// The event log of the SQLite store: a batch's accepted events appended as one row (event_blocks), after each is
// checked against its metric's stored kind and deduplicated exactly (a fingerprint match is confirmed against the
// stored event), with the servers and metrics they name. The caller holds the transaction; a batch that rolls
// back must be followed by reset(), which drops what the caches learned from it. The deriver reads the log back
// through the BlockSource it is.

import type Database from "better-sqlite3";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import type { InsertOutcome } from "../port.js";
import { DedupKeys } from "./dedup-keys.js";
import type { BlockSource } from "./deriver.js";
import {
  BlockBuilder,
  type BlockIds,
  blockColumns,
  forWorker,
  type LogBlock,
  type PackedBlock,
  REFS,
  readBlock,
} from "./packed-block.js";
import { keyFingerprint } from "./recent-keys.js";
import { num } from "./values.js";

interface ServerDelta {
  lastEventTime: number;
  events: number;
}

export interface CommittedBatch {
  readonly outcome: InsertOutcome;
  readonly firstSeq: number;
  /** The events accepted, as the log stores them. */
  readonly block: LogBlock;
}

/** A row of event_blocks: first_seq, refs, numbers, text. */
type BlockRow = [bigint, Buffer, Buffer, string];

const toBlock = (row: BlockRow): LogBlock => readBlock(num(row[0]), row[1], row[2], row[3]);

export class EventLog implements BlockSource {
  private readonly dedup: DedupKeys;
  private readonly serverIds = new Map<string, number>();
  private readonly kinds = new Map<string, MetricKind>();
  private readonly blockCache = new Map<number, LogBlock>();
  private nextSeq = 1;
  private readonly sql;

  /** `db` has the store's migrations applied and returns integers as bigints. */
  constructor(db: Database.Database, recentKeySlots: number, filterBits: number) {
    this.sql = {
      blockStarts: db
        .prepare("SELECT first_seq FROM event_blocks WHERE first_seq + count > ? ORDER BY first_seq")
        .pluck(),
      block: db.prepare("SELECT first_seq, refs, numbers, text FROM event_blocks WHERE first_seq = ?").raw(),
      eventCount: db.prepare("SELECT coalesce(sum(count), 0) FROM event_blocks").pluck(),
      blockAt: db
        .prepare(
          "SELECT first_seq, refs, numbers, text FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1",
        )
        .raw(),
      insertBlock: db.prepare(
        "INSERT INTO event_blocks (first_seq, count, fps, refs, numbers, text) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      nextSeq: db.prepare("SELECT coalesce(max(first_seq + count), 1) FROM event_blocks").pluck(),
      serverByName: db.prepare("SELECT id FROM servers WHERE name = ?").pluck(),
      insertServer: db
        .prepare("INSERT INTO servers (name, last_heard, last_event_time, events) VALUES (?, 0, 0, 0) RETURNING id")
        .pluck(),
      touchServer: db.prepare(
        "UPDATE servers SET last_heard = ?, last_event_time = max(last_event_time, ?), events = events + ? WHERE id = ?",
      ),
      metricKind: db.prepare("SELECT kind FROM metrics WHERE name = ?").pluck(),
      insertMetric: db.prepare("INSERT INTO metrics (name, kind) VALUES (?, ?)"),
    };
    this.dedup = new DedupKeys(db, recentKeySlots, filterBits);
    this.reset();
  }

  end(): number {
    return this.nextSeq;
  }

  blockStarts(seq: number): number[] {
    return (this.sql.blockStarts.all(seq) as bigint[]).map(num);
  }

  block(firstSeq: number): PackedBlock {
    return forWorker(toBlock(this.sql.block.get(firstSeq) as BlockRow));
  }

  eventCount(): number {
    return num(this.sql.eventCount.get());
  }

  /** Appends a batch's accepted events, in the caller's transaction. */
  append(events: readonly UsageEvent[]): CommittedBatch {
    const keys = events.map((e) => keyFingerprint(e.server, e.id));
    this.dedup.begin(keys);
    const firstSeq = this.nextSeq;
    const block = new BlockBuilder(firstSeq, events.length);
    const fps: number[] = [];
    const servers = new Map<number, ServerDelta>();
    const rejected: { index: number; reason: string }[] = [];
    let duplicates = 0;
    for (let index = 0; index < events.length; index++) {
      const e = events[index] as UsageEvent;
      const kind = this.metricKind(e.metric, e.kind);
      if (kind !== e.kind) {
        rejected.push({ index, reason: `kind "${e.kind}" contradicts ${e.metric}, stored as a ${kind}` });
        continue;
      }
      const serverId = this.serverId(e.server);
      const fp = keys[index] as number;
      if (this.isDuplicate(fp, serverId, e.id, block)) {
        duplicates++;
        continue;
      }
      block.add(e, serverId);
      fps.push(fp);
      this.dedup.add(fp, firstSeq + block.count - 1);
      const server = servers.get(serverId);
      if (server) {
        server.events++;
        if (e.time > server.lastEventTime) server.lastEventTime = e.time;
      } else {
        servers.set(serverId, { lastEventTime: e.time, events: 1 });
      }
    }
    const logged = block.finish();
    if (logged.count > 0) {
      const fpBytes = Buffer.from(new Float64Array(fps).buffer);
      const { refs, numbers, text } = blockColumns(logged);
      this.sql.insertBlock.run(firstSeq, logged.count, fpBytes, refs, numbers, text);
      this.nextSeq = firstSeq + logged.count;
    }
    const now = Date.now();
    for (const [id, s] of servers) this.sql.touchServer.run(now, s.lastEventTime, s.events, id);
    this.dedup.step();
    const outcome = { accepted: logged.count, duplicates, rejected };
    return { outcome, firstSeq, block: logged };
  }

  /** Drops what the caches learned, after a batch rolled back, and reads the log's end again. */
  reset(): void {
    this.nextSeq = num(this.sql.nextSeq.get());
    this.blockCache.clear();
    this.serverIds.clear();
    this.kinds.clear();
    this.dedup.load();
  }

  /** Moves the dedup keys still in memory to disk, in the caller's transaction, on close. */
  finish(): void {
    this.dedup.finish();
  }

  /** Confirms a fingerprint match against the stored event (or one earlier in this batch): exact dedup. */
  private isDuplicate(fp: number, serverId: number, id: string, batch: BlockIds): boolean {
    for (const seq of this.dedup.candidates(fp)) {
      const block = seq >= batch.firstSeq ? batch : this.storedBlock(seq);
      const i = block ? seq - block.firstSeq : -1;
      if (block && i < block.count && block.ids[i] === id && block.refs[i * REFS] === serverId) return true;
    }
    return false;
  }

  /** The stored block holding an event, through a small cache of decoded blocks (retries hit few blocks). */
  private storedBlock(seq: number): LogBlock | undefined {
    for (const [first, block] of this.blockCache) {
      if (seq >= first && seq < first + block.count) return block;
    }
    const row = this.sql.blockAt.get(seq) as BlockRow | undefined;
    if (!row) return undefined;
    const block = toBlock(row);
    if (this.blockCache.size >= 4) this.blockCache.clear();
    this.blockCache.set(block.firstSeq, block);
    return block;
  }

  /** The kind a metric was first stored with, or undefined for a metric not stored yet. */
  private storedKind(metric: string): MetricKind | undefined {
    const known = this.kinds.get(metric) ?? (this.sql.metricKind.get(metric) as MetricKind | undefined);
    if (known) this.kinds.set(metric, known);
    return known;
  }

  /** The kind a metric keeps: the stored one, or `kind` for a new metric, stored now. */
  private metricKind(metric: string, kind: MetricKind): MetricKind {
    const known = this.storedKind(metric);
    if (known) return known;
    this.sql.insertMetric.run(metric, kind);
    this.kinds.set(metric, kind);
    return kind;
  }

  private serverId(name: string): number {
    let id = this.serverIds.get(name);
    if (id === undefined) {
      id = num(this.sql.serverByName.get(name) ?? this.sql.insertServer.get(name));
      this.serverIds.set(name, id);
    }
    return id;
  }
}
