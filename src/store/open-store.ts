// The only place that picks a store adapter: sqlite:PATH, postgres://…, or the SQLite file in the data directory.

import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config/config.js";
import type { UsageStore } from "./port.js";
import { openPostgresStore } from "./postgres/postgres-store.js";
import { openSqliteStore } from "./sqlite/sqlite-store.js";

export async function openStore(config: Pick<Config, "store" | "data">): Promise<UsageStore> {
  const store = config.store;
  if (store?.startsWith("postgres://") || store?.startsWith("postgresql://")) return openPostgresStore({ url: store });
  const file = store ? store.slice("sqlite:".length) : path.join(config.data, "tally.sqlite");
  if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  return openSqliteStore({ path: file });
}
