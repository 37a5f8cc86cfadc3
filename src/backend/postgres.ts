// The shared backend: the event store, tokens, petnames and charging on one PostgreSQL pool, for several Tally nodes.

import { openPostgresTokenStore } from "../auth/postgres-token-store.js";
import { POSTGRES_BACKUP } from "../backup/postgres-backup.js";
import { openPostgresChargingStore } from "../charging/postgres-charging-store.js";
import { openPostgresFeedStore } from "../feeds/postgres-feed-store.js";
import { PostgresPetnameStore } from "../petnames/postgres-petname-store.js";
import { openPostgresStarRecordStore } from "../records/postgres-star-record-store.js";
import {
  openPostgresStore,
  type PostgresStoreOptions,
  type PostgresUsageStore,
} from "../store/postgres/postgres-store.js";
import { type Backend, backendOf } from "./backend.js";

export async function openPostgresBackend(options: PostgresStoreOptions): Promise<Backend> {
  const store = await openPostgresStore(options);
  try {
    return await postgresBackendOn(store);
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The backend on an open store's pool (benchmarks also query that pool directly); closes with it. */
export async function postgresBackendOn(store: PostgresUsageStore): Promise<Backend> {
  const tokens = await openPostgresTokenStore(store.pool);
  const records = await openPostgresStarRecordStore(store.pool);
  const feeds = await openPostgresFeedStore(store.pool);
  return backendOf(store, {
    tokens,
    petnames: new PostgresPetnameStore(store.pool),
    records,
    feeds,
    charging: await openPostgresChargingStore(store.pool),
    backup: POSTGRES_BACKUP,
  });
}
