// The embedded backend: the event store, tokens, petnames and charging on one SQLite connection.

import { SqliteTokenStore } from "../auth/sqlite-token-store.js";
import { SqliteChargingStore } from "../charging/sqlite-charging-store.js";
import { SqlitePetnameStore } from "../petnames/sqlite-petname-store.js";
import { openSqliteStore, type SqliteStoreOptions, type SqliteUsageStore } from "../store/sqlite/sqlite-store.js";
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
    charging: new SqliteChargingStore(store.db),
  });
}
