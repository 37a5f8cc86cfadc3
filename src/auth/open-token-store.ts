// Picks the token adapter that matches the usage store, so tokens live on the same connection or pool.

import { AppError } from "../domain/errors.js";
import type { UsageStore } from "../store/port.js";
import { PostgresUsageStore } from "../store/postgres/postgres-store.js";
import { SqliteUsageStore } from "../store/sqlite/sqlite-store.js";
import { openPostgresTokenStore } from "./postgres-token-store.js";
import { SqliteTokenStore } from "./sqlite-token-store.js";
import type { TokenStore } from "./token-store.js";

export async function openTokenStore(store: UsageStore): Promise<TokenStore> {
  if (store instanceof SqliteUsageStore) return new SqliteTokenStore(store.db);
  if (store instanceof PostgresUsageStore) return openPostgresTokenStore(store.pool);
  throw new AppError("INTERNAL", `no token store for ${store.description}`);
}
