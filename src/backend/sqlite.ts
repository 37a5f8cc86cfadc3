// The embedded backend: the event store, tokens, petnames and charging on one SQLite connection.

import { SqliteTokenStore } from "../auth/sqlite-token-store.js";
import { SqliteStoreBackup } from "../backup/sqlite-backup.js";
import { SqliteChargingStore } from "../charging/sqlite-charging-store.js";
import { SqliteFeedStore } from "../feeds/sqlite-feed-store.js";
import { SqlitePetnameStore } from "../petnames/sqlite-petname-store.js";
import { SqliteStarRecordStore } from "../records/sqlite-star-record-store.js";
import { openSqliteStore, type SqliteStoreOptions, type SqliteUsageStore } from "../store/sqlite/sqlite-store.js";
import { derivedPath } from "../store/sqlite/store-files.js";
import { type Backend, backendOf } from "./backend.js";

export async function openSqliteBackend(options: SqliteStoreOptions): Promise<Backend> {
  const store = await openSqliteStore(options);
  try {
    return sqliteBackendOn(store);
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The backend on an open store's connection (benchmarks also read that connection directly); closes with it. */
export function sqliteBackendOn(store: SqliteUsageStore): Backend {
  return backendOf(store, {
    tokens: new SqliteTokenStore(store.db),
    petnames: new SqlitePetnameStore(store.db),
    backup: new SqliteStoreBackup(store.db, { log: store.db.name, derived: derivedPath(store.db.name) }),
    records: new SqliteStarRecordStore(store.db),
    feeds: new SqliteFeedStore(store.db),
    charging: new SqliteChargingStore(store.db),
  });
}
