// The store contract every adapter (SQLite, PostgreSQL) implements and the shared suite in contract.ts checks.

import type { UsageEvent } from "../domain/event.js";
import type { MetricKind } from "../domain/metric.js";
import type { RollupRow } from "../domain/rollup.js";

export interface InsertOutcome {
  readonly accepted: number;
  readonly duplicates: number;
  /** Events the store refused, by their index in the batch given to insertEvents. */
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
}

export interface CurrentLevel {
  readonly server: string;
  readonly account: string;
  readonly metric: string;
  readonly instance: string;
  readonly value: bigint;
  /** Time of the reading that set the value. */
  readonly time: number;
}

export interface CurrentLevelQuery {
  readonly metric: string;
  readonly accounts?: readonly string[];
  readonly servers?: readonly string[];
}

export interface RollupQuery {
  readonly account: string;
  /** Hours from (inclusive) and to (exclusive), epoch ms. */
  readonly from: number;
  readonly to: number;
  readonly metrics?: readonly string[];
  readonly servers?: readonly string[];
}

export interface ServerInfo {
  readonly server: string;
  /** Wall-clock time Tally last stored an event from this server. */
  readonly lastHeard: number;
  /** Latest event time seen from this server. */
  readonly lastEventTime: number;
  readonly events: number;
}

export interface StoreStats {
  readonly events: number;
  readonly series: number;
  readonly rollups: number;
}

export interface UsageStore {
  /** Names the adapter and where it keeps its data, without secrets, for the start-up log line. */
  readonly description: string;
  /**
   * Commits the events in one transaction and only then resolves. Idempotent on (server, id): an event seen
   * before, in this batch or any earlier one, counts as a duplicate and changes nothing.
   */
  insertEvents(events: readonly UsageEvent[]): Promise<InsertOutcome>;
  /** Latest reading of a level or state per (server, account, instance). */
  currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]>;
  /** Rollup rows for one account over a range of hours, ordered by server, metric, instance and hour. */
  rollups(query: RollupQuery): Promise<RollupRow[]>;
  /** Every rollup row, in the same order as computeRollups returns them (for checks and rebuilds). */
  allRollups(): Promise<RollupRow[]>;
  /** Every server that has sent events, by id. */
  servers(): Promise<ServerInfo[]>;
  /** The kind each metric was first stored with. */
  metricKinds(): Promise<Record<string, MetricKind>>;
  /** Drops every rollup and derives them again from the stored events. */
  rebuildRollups(): Promise<{ events: number; rollups: number }>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
