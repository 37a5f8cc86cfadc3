// What a backend gives the rest of Tally: every capability's store, built on one connection or pool, and one close.

import type { TokenStore } from "../auth/token-store.js";
import type { StoreBackup } from "../backup/store-backup.js";
import type { ChargingStore } from "../charging/charging-store.js";
import type { FeedStore } from "../feeds/feed-store.js";
import type { PetnameStore } from "../petnames/petname-store.js";
import type { StarRecordStore } from "../records/star-record-store.js";
import type {
  EventFeedReader,
  EventLog,
  StoreMaintenance,
  UsageReader,
  UsageStore,
  UsageTableReader,
} from "../store/port.js";
import type { StoreLog } from "../store/sqlite/derived-database.js";

export interface Backend {
  /** Names the backend and where it keeps its data, without secrets, for the start-up log line. */
  readonly description: string;
  readonly events: EventLog;
  /** The stored events in commit order, for the feeds this node serves. */
  readonly eventFeed: EventFeedReader;
  readonly usage: UsageReader;
  readonly usageTable: UsageTableReader;
  readonly maintenance: StoreMaintenance;
  readonly tokens: TokenStore;
  readonly petnames: PetnameStore;
  /** Copies of the store taken while it serves (tally backup). */
  readonly backup: StoreBackup;
  /** Imported StAR records, remembered so that a later version replaces one exactly. */
  readonly records: StarRecordStore;
  /** The feeds this node shares and the subscriptions it pulls. */
  readonly feeds: FeedStore;
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

/** What the event store itself gives a backend. */
type UsageStoreParts = Pick<
  Backend,
  "description" | "events" | "eventFeed" | "usage" | "usageTable" | "maintenance" | "close"
>;

/** A backend around an event store and the other stores built on its connection; closing it closes the store. */
export function backendOf(store: UsageStore, others: Omit<Backend, keyof UsageStoreParts>): Backend {
  return {
    description: store.description,
    events: store,
    eventFeed: store,
    usage: store,
    usageTable: store,
    maintenance: store,
    ...others,
    close: () => store.close(),
  };
}
