// The event log as a feed: the events of committed blocks in sequence order (SQLite has one writer, so sequence
// order is commit order), which blocks came from a subscription, and each subscription's position, committed in
// the block's transaction. Its tables are a component of their own in the log's database.

import type Database from "better-sqlite3";
import { migrate } from "../../db/sqlite-migrate.js";
import { AppError } from "../../domain/errors.js";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import type { EventSource, FeedFilter, FeedPage } from "../port.js";
import { sourceMoved } from "../source-moved.js";
import { KINDS, type LogBlock, REFS, readBlock } from "./packed-block.js";
import { num } from "./values.js";

export const EVENT_SOURCE_MIGRATIONS: readonly string[] = [
  `
  -- The blocks received from a subscription (every other block is origin: measured here).
  CREATE TABLE block_sources (first_seq INTEGER PRIMARY KEY, source TEXT NOT NULL) STRICT;
  -- Each subscription's cursor in its feed, written in the transaction of the block it brought.
  CREATE TABLE source_positions (name TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT;
  `,
];

/** Blocks read per query while a page is filled. */
const BLOCKS_PER_READ = 32;

type FeedBlockRow = [bigint, Buffer, Buffer, string, string | null];

export class SqliteEventFeed {
  private readonly sql;
  private readonly serverNames = new Map<number, string>();

  constructor(db: Database.Database) {
    migrate(db, "event-sources", EVENT_SOURCE_MIGRATIONS);
    this.sql = {
      markBlock: db.prepare("INSERT INTO block_sources (first_seq, source) VALUES (?, ?)"),
      setPosition: db.prepare(
        `INSERT INTO source_positions (name, position, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      ),
      position: db.prepare("SELECT position FROM source_positions WHERE name = ?").pluck(),
      startOf: db
        .prepare("SELECT first_seq FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1")
        .pluck(),
      blocks: db
        .prepare(
          `SELECT b.first_seq, b.refs, b.numbers, b.text, s.source FROM event_blocks b
           LEFT JOIN block_sources s ON s.first_seq = b.first_seq
           WHERE b.first_seq >= ? ORDER BY b.first_seq LIMIT ${BLOCKS_PER_READ}`,
        )
        .raw(),
      lastSeq: db.prepare("SELECT coalesce(max(first_seq + count), 1) - 1 FROM event_blocks").pluck(),
      servers: db.prepare("SELECT id, name FROM servers").raw(),
    };
  }

  /** First in the batch's transaction: refuses a batch read after another position than the stored one. */
  checkSource(source: EventSource): void {
    if (this.sourcePosition(source.name) !== source.after) throw sourceMoved(source);
  }

  /** In the batch's transaction: the block's source (when it has events) and the source's new position. */
  recordSource(source: EventSource, firstSeq: number, count: number): void {
    if (count > 0) this.sql.markBlock.run(firstSeq, source.name);
    this.sql.setPosition.run(source.name, source.position, Date.now());
  }

  sourcePosition(name: string): string | null {
    return (this.sql.position.get(name) as string | undefined) ?? null;
  }

  /** Events after sequence `cursor` (decimal), reading whole blocks; a filter skips at most a few blocks per page. */
  eventsAfter(cursor: string | null, limit: number, filter: FeedFilter): FeedPage {
    const after = parseCursor(cursor);
    const servers = filter.servers ? new Set(filter.servers) : null;
    const events: UsageEvent[] = [];
    let next = after;
    let more = false;
    let from = num(this.sql.startOf.get(after + 1) ?? 0);
    let scannedBlocks = 0;
    outer: for (;;) {
      const rows = this.sql.blocks.all(from) as FeedBlockRow[];
      for (const row of rows) {
        const block = readBlock(num(row[0]), row[1], row[2], row[3]);
        const relayed = row[4] !== null;
        const last = block.firstSeq + block.count - 1;
        if (last <= after) continue;
        scannedBlocks++;
        if (filter.originOnly && relayed) {
          next = last;
        } else {
          const decoded = this.decode(block);
          for (let i = Math.max(0, after + 1 - block.firstSeq); i < block.count; i++) {
            if (events.length === limit) {
              more = true;
              break outer;
            }
            const e = decoded[i] as UsageEvent;
            next = block.firstSeq + i;
            if (servers === null || servers.has(e.server)) events.push(e);
          }
        }
        // A filter that skips most events still answers after a bounded amount of work, with `more` set.
        if (scannedBlocks >= BLOCKS_PER_READ * 4 && events.length > 0) {
          more = next < num(this.sql.lastSeq.get());
          break outer;
        }
      }
      if (rows.length < BLOCKS_PER_READ) break;
      from = num((rows[rows.length - 1] as FeedBlockRow)[0]) + 1;
    }
    const lastSeq = num(this.sql.lastSeq.get());
    if (!more) more = next < lastSeq;
    return { events, next: next === 0 ? cursor : String(next), more, remaining: Math.max(0, lastSeq - next) };
  }

  private decode(block: LogBlock): UsageEvent[] {
    const dims = new Map(block.dims);
    const events: UsageEvent[] = [];
    let big = 0;
    for (let i = 0; i < block.count; i++) {
      const r = i * REFS;
      const raw = block.numbers[i * 2 + 1] as number;
      const value = Number.isNaN(raw) ? BigInt(block.bigValues[big++] as string) : BigInt(raw);
      events.push({
        id: block.ids[i] as string,
        server: this.serverName(block.refs[r] as number),
        time: block.numbers[i * 2] as number,
        account: block.names[block.refs[r + 1] as number] as string,
        metric: block.names[block.refs[r + 2] as number] as string,
        kind: KINDS[block.refs[r + 4] as number] as MetricKind,
        value,
        instance: block.names[block.refs[r + 3] as number] as string,
        dims: dims.get(i) ?? null,
      });
    }
    return events;
  }

  private serverName(id: number): string {
    let name = this.serverNames.get(id);
    if (name === undefined) {
      for (const [sid, sname] of this.sql.servers.all() as [bigint, string][]) this.serverNames.set(num(sid), sname);
      name = this.serverNames.get(id);
      if (name === undefined) throw new AppError("INTERNAL", `the event log names server ${id}, which is not stored`);
    }
    return name;
  }
}

function parseCursor(cursor: string | null): number {
  if (cursor === null || cursor === "") return 0;
  if (!/^\d{1,15}$/.test(cursor)) throw new AppError("VALIDATION", `after "${cursor}" is not a cursor of this feed`);
  return Number(cursor);
}
