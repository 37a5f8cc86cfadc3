// tally doctor's check of a store, picked by its kind: a SQLite store's two files can be checked, and repaired;
// PostgreSQL has tools of its own.

import path from "node:path";
import { validation } from "../domain/errors.js";
import { checkSqliteStore, type StoreCheck } from "./sqlite/check-store.js";

export type { StoreCheck } from "./sqlite/check-store.js";

/** `store` as configured (sqlite:PATH, postgres://…, or none for the SQLite file in the data directory). */
export async function checkStore(
  location: { readonly store?: string | undefined; readonly data: string },
  options: { readonly repair?: boolean } = {},
): Promise<StoreCheck> {
  const { store, data } = location;
  if (store?.startsWith("postgres://") || store?.startsWith("postgresql://")) {
    throw validation("tally doctor checks a SQLite store; a PostgreSQL store is checked with PostgreSQL's own tools");
  }
  return checkSqliteStore(store ? store.slice("sqlite:".length) : path.join(data, "tally.sqlite"), options);
}
