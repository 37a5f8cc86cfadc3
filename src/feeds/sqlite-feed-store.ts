// Feeds and subscriptions in the SQLite file of the usage store, on its connection.

import type Database from "better-sqlite3";
import { migrate } from "../db/sqlite-migrate.js";
import { AppError } from "../domain/errors.js";
import {
  type FeedRecord,
  type FeedStore,
  feedFromRow,
  SUBSCRIPTION_COLUMNS,
  type SubscriptionHealth,
  type SubscriptionRecord,
  type SubscriptionRow,
  subscriptionFromRow,
} from "./feed-store.js";

export const FEED_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE feeds (
    id TEXT PRIMARY KEY,
    -- SHA-256 of the capability: the database alone cannot read a feed.
    capability_hash TEXT NOT NULL UNIQUE,
    note TEXT NOT NULL,
    servers TEXT,
    relay INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    last_success INTEGER,
    lag_events INTEGER,
    caught_up_at INTEGER
  ) STRICT;
  `,
];

interface FeedRow {
  id: string;
  note: string;
  servers: string | null;
  relay: number | bigint;
  created_at: number | bigint;
  revoked_at: number | bigint | null;
}

const FEED_COLUMNS = "id, note, servers, relay, created_at, revoked_at";

export class SqliteFeedStore implements FeedStore {
  private readonly sql;

  /** `db` is the usage store's connection: this adapter adds its tables and never closes it. */
  constructor(db: Database.Database) {
    migrate(db, "feeds", FEED_MIGRATIONS);
    this.sql = {
      insertFeed: db.prepare(
        `INSERT INTO feeds (id, capability_hash, note, servers, relay, created_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      feeds: db.prepare(`SELECT ${FEED_COLUMNS} FROM feeds ORDER BY created_at, id`),
      feedByHash: db.prepare(`SELECT ${FEED_COLUMNS} FROM feeds WHERE capability_hash = ?`),
      revoke: db.prepare(
        `UPDATE feeds SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING ${FEED_COLUMNS}`,
      ),
      insertSubscription: db.prepare(
        `INSERT INTO subscriptions (${SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      subscriptions: db.prepare(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY name`),
      removeSubscription: db.prepare(`DELETE FROM subscriptions WHERE name = ? RETURNING ${SUBSCRIPTION_COLUMNS}`),
      health: db.prepare(
        `UPDATE subscriptions SET state = ?, last_error = ?, last_success = ?, lag_events = ?, caught_up_at = ?
         WHERE id = ?`,
      ),
    };
  }

  async insertFeed(feed: FeedRecord, capabilityHash: string): Promise<void> {
    this.sql.insertFeed.run(
      feed.id,
      capabilityHash,
      feed.note,
      feed.servers === null ? null : JSON.stringify(feed.servers),
      feed.relay ? 1 : 0,
      feed.createdAt,
      feed.revokedAt,
    );
  }

  async listFeeds(): Promise<FeedRecord[]> {
    return (this.sql.feeds.all() as FeedRow[]).map(feedOf);
  }

  async feedByHash(capabilityHash: string): Promise<FeedRecord | null> {
    const row = this.sql.feedByHash.get(capabilityHash) as FeedRow | undefined;
    return row ? feedOf(row) : null;
  }

  async revokeFeed(id: string, now: number): Promise<FeedRecord | null> {
    const row = this.sql.revoke.get(now, id) as FeedRow | undefined;
    return row ? feedOf(row) : null;
  }

  async insertSubscription(s: SubscriptionRecord): Promise<void> {
    const h = s.health;
    try {
      this.sql.insertSubscription.run(
        s.id,
        s.name,
        s.url,
        s.createdAt,
        h.state,
        h.lastError,
        h.lastSuccess,
        h.lagEvents,
        h.caughtUpAt,
      );
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE") {
        throw new AppError("CONFLICT", `there is already a subscription named ${JSON.stringify(s.name)}`);
      }
      throw error;
    }
  }

  async listSubscriptions(): Promise<SubscriptionRecord[]> {
    return (this.sql.subscriptions.all() as SubscriptionRow[]).map(subscriptionFromRow);
  }

  async removeSubscription(name: string): Promise<SubscriptionRecord | null> {
    const row = this.sql.removeSubscription.get(name) as SubscriptionRow | undefined;
    return row ? subscriptionFromRow(row) : null;
  }

  async recordHealth(id: string, h: SubscriptionHealth): Promise<void> {
    this.sql.health.run(h.state, h.lastError, h.lastSuccess, h.lagEvents, h.caughtUpAt, id);
  }
}

function feedOf(r: FeedRow): FeedRecord {
  return feedFromRow({
    ...r,
    servers: r.servers === null ? null : (JSON.parse(r.servers) as string[]),
    relay: Number(r.relay) === 1,
  });
}
