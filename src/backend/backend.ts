// What a backend gives the rest of Tally: every capability's store, built on one connection or pool, and one close.

import type { TokenStore } from "../auth/token-store.js";
import type { ChargingStore } from "../charging/charging-store.js";
import type { PetnameStore } from "../petnames/petname-store.js";
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
  /** Policy versions, agreements and the credit ledger. */
  readonly charging: ChargingStore;
  /** Closes every store, then the connection or pool they share. */
  close(): Promise<void>;
}

/** What a backend's factory is given besides where the data is. */
export interface BackendOptions {
  /** Where a store says what it did on its own (a damaged derived database moved aside). */
  readonly logger?: StoreLog;
}

/** A backend around an event store and the other stores built on its connection; closing it closes the store. */
export function backendOf(store: UsageStore, others: Pick<Backend, "tokens" | "petnames" | "charging">): Backend {
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
