// What the HTTP app is built from: the backend's stores and the settings its routes read.

import type { Backend } from "../backend/backend.js";
import type { LogStats } from "../log/fd-destination.js";
import type { Logger } from "../log/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import type { StarConfig } from "../records/star-config.js";

export interface AppDeps {
  /** Every capability's store. */
  readonly backend: Backend;
  readonly logger: Logger;
  /** Lines the log dropped, for /healthz; none when absent. */
  readonly log?: LogStats;
  readonly maxBodyBytes: number;
  /** Lines or array elements in one POST /v1/events (default LIMITS.batchEvents). */
  readonly maxBatchEvents?: number;
  /** Reads without a token (loopback only; startServer refuses it on other addresses). */
  readonly localReads: boolean;
  /** The longest range a swift-stats query answers, in days. */
  readonly maxQueryDays: number;
  /** The Swift reseller prefix an account_id may lack (default AUTH_; empty: none). */
  readonly swiftResellerPrefix?: string;
  /** The usage table marks a server stale after this long without an event (default 15 minutes). */
  readonly staleAfterMs?: number;
  /** The base of the subscription URLs this node prints (TALLY_PUBLIC_URL); the request's origin when absent. */
  readonly publicUrl?: string | undefined;
  /** Aborted when the node stops: long-polling feed reads answer at once instead of holding the stop up. */
  readonly stopping?: AbortSignal;
  /** Tells the puller that subscriptions were added or removed. */
  readonly subscriptionsChanged?: () => Promise<void>;
  /** The data is simulated (tally serve --demo): the usage pages say so. */
  readonly demo?: boolean;
  /** The process's Prometheus metrics, which the broker consumer shares; a registry of the app's own when absent. */
  readonly metrics?: Metrics;
  /** What keeps the node from doing all its work (a broker it cannot reach): /healthz says degraded. */
  readonly problems?: () => readonly string[];
  /** Threads a StAR export makes its records on (default: one per core, up to four). */
  readonly exportThreads?: number;
  /** Identities of accounts and places of servers for StAR records (default: none configured). */
  readonly starConfig?: StarConfig;
}
