// The feeds capability's storage port: the feeds this node shares (capabilities, kept as hashes) and the feeds it
// subscribes to, with each subscription's health. A subscription's cursor is not here: the event store commits it
// with the events it brought (EventLog source positions).

/** A feed this node serves: what it carries, never its capability, of which only the hash is stored. */
export interface FeedRecord {
  readonly id: string;
  readonly note: string;
  /** Only the events of these servers; null for every server. */
  readonly servers: readonly string[] | null;
  /** Also the events this node received from its own subscriptions, not only those it measured. */
  readonly relay: boolean;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

export type SubscriptionState = "new" | "catching-up" | "live" | "failing";

/** How a subscription is doing, as the puller last recorded it. */
export interface SubscriptionHealth {
  readonly state: SubscriptionState;
  readonly lastError: string | null;
  /** When a page was last read and stored. */
  readonly lastSuccess: number | null;
  /** Events the upstream had after this node's cursor at the last read (an upper bound). */
  readonly lagEvents: number | null;
  /** When this node last had everything the feed had. */
  readonly caughtUpAt: number | null;
}

export interface SubscriptionRecord {
  /** Names the subscription's events and cursor in the event store; a new subscription gets a new id. */
  readonly id: string;
  readonly name: string;
  /** The feed's URL, capability included: the only credential, never shown. */
  readonly url: string;
  readonly createdAt: number;
  readonly health: SubscriptionHealth;
}

export interface FeedStore {
  insertFeed(feed: FeedRecord, capabilityHash: string): Promise<void>;
  /** Every feed, revoked ones too, oldest first. */
  listFeeds(): Promise<FeedRecord[]>;
  /** The feed whose capability has this hash, revoked or not; null if none. */
  feedByHash(capabilityHash: string): Promise<FeedRecord | null>;
  /** Marks a feed revoked (once; a second revoke keeps the first time). Null if there is no such feed. */
  revokeFeed(id: string, now: number): Promise<FeedRecord | null>;

  /** Throws CONFLICT when the name is taken. */
  insertSubscription(subscription: SubscriptionRecord): Promise<void>;
  /** Every subscription, by name. */
  listSubscriptions(): Promise<SubscriptionRecord[]>;
  /** The removed subscription, or null if there was none by that name. */
  removeSubscription(name: string): Promise<SubscriptionRecord | null>;
  /** Records a subscription's health; nothing if it was removed meanwhile. */
  recordHealth(id: string, health: SubscriptionHealth): Promise<void>;
}

export const NEW_HEALTH: SubscriptionHealth = {
  state: "new",
  lastError: null,
  lastSuccess: null,
  lagEvents: null,
  caughtUpAt: null,
};

/** A subscription row as both adapters read it (integers as numbers, bigints or decimal strings). */
export interface SubscriptionRow {
  id: string;
  name: string;
  url: string;
  created_at: number | bigint | string;
  state: SubscriptionState;
  last_error: string | null;
  last_success: number | bigint | string | null;
  lag_events: number | bigint | string | null;
  caught_up_at: number | bigint | string | null;
}

export const SUBSCRIPTION_COLUMNS =
  "id, name, url, created_at, state, last_error, last_success, lag_events, caught_up_at";

const numberOrNull = (v: number | bigint | string | null) => (v === null ? null : Number(v));

export function subscriptionFromRow(r: SubscriptionRow): SubscriptionRecord {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    createdAt: Number(r.created_at),
    health: {
      state: r.state,
      lastError: r.last_error,
      lastSuccess: numberOrNull(r.last_success),
      lagEvents: numberOrNull(r.lag_events),
      caughtUpAt: numberOrNull(r.caught_up_at),
    },
  };
}

/** A feed row once the adapter has read its servers and relay columns. */
export function feedFromRow(r: {
  id: string;
  note: string;
  servers: readonly string[] | null;
  relay: boolean;
  created_at: number | bigint | string;
  revoked_at: number | bigint | string | null;
}): FeedRecord {
  return {
    id: r.id,
    note: r.note,
    servers: r.servers,
    relay: r.relay,
    createdAt: Number(r.created_at),
    revokedAt: numberOrNull(r.revoked_at),
  };
}
