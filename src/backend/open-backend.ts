// The one place that picks a backend: sqlite:PATH, postgres://…, or the SQLite file in the data directory.

import fs from "node:fs";
import path from "node:path";
import type { Config } from "../config/config.js";
import { validation } from "../domain/errors.js";
import { checkSqliteStore, type StoreCheck } from "../store/sqlite/check-store.js";
import { derivedPath } from "../store/sqlite/store-files.js";
import type { Backend, BackendOptions } from "./backend.js";
import { openPostgresBackend } from "./postgres.js";
import { openSqliteBackend } from "./sqlite.js";

export type { StoreCheck } from "../store/sqlite/check-store.js";

type Location = Pick<Config, "store" | "data"> & Partial<Pick<Config, "memoryMb">>;

export async function openBackend(config: Location, options: BackendOptions = {}): Promise<Backend> {
  const url = postgresUrl(config);
  if (url) return openPostgresBackend({ url });
  const file = sqliteFile(config);
  if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  return openSqliteBackend({
    path: file,
    ...(config.memoryMb !== undefined ? { memoryMiB: config.memoryMb } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

/** tally doctor's check: a SQLite store's two files can be checked, and repaired; PostgreSQL has tools of its own. */
export async function checkBackend(config: Location, options: { readonly repair?: boolean } = {}): Promise<StoreCheck> {
  if (postgresUrl(config)) {
    throw validation("tally doctor checks a SQLite store; a PostgreSQL store is checked with PostgreSQL's own tools");
  }
  return checkSqliteStore(sqliteFile(config), options);
}

function postgresUrl({ store }: Location): string | null {
  return store?.startsWith("postgres://") || store?.startsWith("postgresql://") ? store : null;
}

/** Where a SQLite store's two files are (tally restore puts a backup there); a PostgreSQL store has none. */
export function sqliteStoreFiles(config: Location): { readonly log: string; readonly derived: string } {
  if (postgresUrl(config))
    throw validation(
      "tally restore restores a SQLite store; a PostgreSQL store is restored with pg_restore (see the README)",
    );
  const log = path.resolve(sqliteFile(config));
  return { log, derived: derivedPath(log) };
}

function sqliteFile({ store, data }: Location): string {
  return store ? store.slice("sqlite:".length) : path.join(data, "tally.sqlite");
}
