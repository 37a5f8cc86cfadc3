// What a backend gives the rest of Tally: every capability's store, built on one connection or pool, and one close.

import type { TokenStore } from "../auth/token-store.js";
import type { StoreBackup } from "../backup/store-backup.js";
import type { PetnameStore } from "../petnames/petname-store.js";
import type { StarRecordStore } from "../records/star-record-store.js";
import type { EventLog, StoreMaintenance, UsageReader, UsageStore, UsageTableReader } from "../store/port.js";
import type { StoreLog } from "../store/sqlite/derived-database.js";

export interface Backend {
  /** Names the backend and where it keeps its data, without secrets, for the start-up log line. */
  readonly description: string;
  readonly events: EventLog;
  readonly usage: UsageReader;
  readonly usageTable: UsageTableReader;
  readonly maintenance: StoreMaintenance;
  readonly tokens: TokenStore;
  readonly petnames: PetnameStore;
  /** Imported StAR records, remembered so that a later version replaces one exactly. */
  readonly records: StarRecordStore;
  /** Copies of the store taken while it serves (tally backup). */
  readonly backup: StoreBackup;
  /** Closes every store, then the connection or pool they share. */
  close(): Promise<void>;
}

/** What a backend's factory is given besides where the data is. */
export interface BackendOptions {
  /** Where a store says what it did on its own (a damaged derived database moved aside). */
  readonly logger?: StoreLog;
}

/** A backend around an event store and the other stores built on its connection; closing it closes the store. */
export function backendOf(
  store: UsageStore,
  others: Pick<Backend, "tokens" | "petnames" | "records" | "backup">,
): Backend {
  return {
    description: store.description,
    events: store,
    usage: store,
    usageTable: store,
    maintenance: store,
    ...others,
    close: () => store.close(),
  };
}
