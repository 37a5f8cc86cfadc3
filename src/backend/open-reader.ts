// The one place that opens a store's reads again in another thread, from the location the store gave.

import type { AccountsReader, ReaderLocation } from "../store/port.js";
import { openPostgresReader } from "../store/postgres/postgres-store.js";
import { SqliteAccountsReader } from "../store/sqlite/accounts-reader.js";

export interface OpenAccountsReader extends AccountsReader {
  /** Takes a newer location of the same store: servers heard of since the first. */
  locate(location: ReaderLocation): void;
  close(): Promise<void>;
}

export function openAccountsReader(location: ReaderLocation): OpenAccountsReader {
  if (location.store === "postgres") {
    const store = openPostgresReader(location);
    return {
      currentLevels: (q) => store.currentLevels(q),
      accountsRollups: (q) => store.accountsRollups(q),
      accountsDays: (q) => store.accountsDays(q),
      locate: () => {},
      close: () => store.close(),
    };
  }
  return new SqliteAccountsReader(location);
}
