// Feeds and subscriptions in the PostgreSQL schema of the usage store, on its pool.

import type pg from "pg";
import { postgresError } from "../db/postgres-errors.js";
import { migrateComponent } from "../db/postgres-migrate.js";
import { AppError, messageOf } from "../domain/errors.js";
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
    id text PRIMARY KEY,
    -- SHA-256 of the capability: the database alone cannot read a feed.
    capability_hash text NOT NULL UNIQUE,
    note text NOT NULL,
    servers text[],
    relay boolean NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
  );
  CREATE TABLE subscriptions (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    url text NOT NULL,
    created_at bigint NOT NULL,
    state text NOT NULL,
    last_error text,
    last_success bigint,
    lag_events bigint,
    caught_up_at bigint
  );
  `,
];

interface FeedRow {
  id: string;
  note: string;
  servers: string[] | null;
  relay: boolean;
  created_at: string;
  revoked_at: string | null;
}

const FEED_COLUMNS = "id, note, servers, relay, created_at, revoked_at";

/** Adds the feed tables to the pool's schema if needed; `pool` is the usage store's and stays its to close. */
export async function openPostgresFeedStore(pool: pg.Pool): Promise<PostgresFeedStore> {
  const client = await pool.connect();
  try {
    await migrateComponent(client, "feeds", FEED_MIGRATIONS);
  } catch (error) {
    throw new AppError("UNAVAILABLE", `cannot prepare the PostgreSQL feed tables: ${messageOf(error)}`);
  } finally {
    client.release();
  }
  return new PostgresFeedStore(pool);
}

export class PostgresFeedStore implements FeedStore {
  constructor(private readonly pool: pg.Pool) {}

  async insertFeed(feed: FeedRecord, capabilityHash: string): Promise<void> {
    await this.query(
      `INSERT INTO feeds (id, capability_hash, note, servers, relay, created_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        feed.id,
        capabilityHash,
        feed.note,
        feed.servers === null ? null : [...feed.servers],
        feed.relay,
        feed.createdAt,
        feed.revokedAt,
      ],
    );
  }

  async listFeeds(): Promise<FeedRecord[]> {
    return (await this.query<FeedRow>(`SELECT ${FEED_COLUMNS} FROM feeds ORDER BY created_at, id`)).map(feedOf);
  }

  async feedByHash(capabilityHash: string): Promise<FeedRecord | null> {
    const [row] = await this.query<FeedRow>(`SELECT ${FEED_COLUMNS} FROM feeds WHERE capability_hash = $1`, [
      capabilityHash,
    ]);
    return row ? feedOf(row) : null;
  }

  async revokeFeed(id: string, now: number): Promise<FeedRecord | null> {
    const [row] = await this.query<FeedRow>(
      `UPDATE feeds SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING ${FEED_COLUMNS}`,
      [id, now],
    );
    return row ? feedOf(row) : null;
  }

  async insertSubscription(s: SubscriptionRecord): Promise<void> {
    const h = s.health;
    try {
      await this.pool.query(
        `INSERT INTO subscriptions (${SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [s.id, s.name, s.url, s.createdAt, h.state, h.lastError, h.lastSuccess, h.lagEvents, h.caughtUpAt],
      );
    } catch (error) {
      if ((error as { code?: string }).code === "23505") {
        throw new AppError("CONFLICT", `there is already a subscription named ${JSON.stringify(s.name)}`);
      }
      throw postgresError(error);
    }
  }

  async listSubscriptions(): Promise<SubscriptionRecord[]> {
    return (await this.query<SubscriptionRow>(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY name`)).map(
      subscriptionFromRow,
    );
  }

  async removeSubscription(name: string): Promise<SubscriptionRecord | null> {
    const [row] = await this.query<SubscriptionRow>(
      `DELETE FROM subscriptions WHERE name = $1 RETURNING ${SUBSCRIPTION_COLUMNS}`,
      [name],
    );
    return row ? subscriptionFromRow(row) : null;
  }

  async recordHealth(id: string, h: SubscriptionHealth): Promise<void> {
    await this.query(
      `UPDATE subscriptions SET state = $1, last_error = $2, last_success = $3, lag_events = $4, caught_up_at = $5
       WHERE id = $6`,
      [h.state, h.lastError, h.lastSuccess, h.lagEvents, h.caughtUpAt, id],
    );
  }

  private async query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, values)).rows;
    } catch (error) {
      throw postgresError(error);
    }
  }
}

const feedOf = (r: FeedRow): FeedRecord => feedFromRow(r);
