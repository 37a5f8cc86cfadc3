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
  /** One page of the usage table (issue 4): accounts by servers, with totals. */
  usageTable(query: UsageTableQuery): Promise<UsageTablePage>;
  /** The optional petname database and the invitations that fill it (issue 4). */
  readonly petnames: PetnameStore;
}

// ── The usage table (issue 4): maintained per-(metric, account) totals and per-(metric, account, server) cells ──

/** The order of the usage table: a value descending (the total, or one server's cell), then account ascending. */
export type UsageSort =
  | { readonly by: "total" }
  | { readonly by: "account" }
  | { readonly by: "server"; readonly server: string };

/**
 * A row's place in the table's order, as a cursor carries it. `value` is the sorted value (the total, or the
 * cell on the sort server); null when sorting by account, and for rows with no cell on the sort server, which
 * come after every row that has one. Accounts compare as UTF-8 bytes.
 */
export interface UsagePosition {
  readonly value: bigint | null;
  readonly account: string;
}

export interface UsageTableQuery {
  /** A level metric, such as storage.bytes. */
  readonly metric: string;
  readonly sort: UsageSort;
  /** Rows in the page, at least 1. */
  readonly limit: number;
  /** Rows strictly after this position; `before` gives the rows strictly before it instead, in the same order. */
  readonly after?: UsagePosition | undefined;
  readonly before?: UsagePosition | undefined;
  /** Only these accounts (a subset or batch). */
  readonly accounts?: readonly string[] | undefined;
  /** Only accounts whose id or petname contains this text (ASCII case-insensitive). */
  readonly search?: string | undefined;
  /** The columns: cells only for these servers. Totals stay the sum across every server. */
  readonly servers?: readonly string[] | undefined;
  /** The table as it stood at this time (epoch ms, rounded down to the hour), from the hourly rollups. */
  readonly at?: number | undefined;
  /**
   * Read the table as it was when a paged read began: the `snapshot` an earlier page answered with. Paging with
   * it returns every account exactly once, with the values of that moment, however events move the table.
   */
  readonly snapshot?: string | undefined;
}

export interface UsageTableRow {
  readonly account: string;
  readonly petname: string | null;
  /** Cells for the column servers where the account has data; a server without data has no entry. */
  readonly byServer: Readonly<Record<string, bigint>>;
  /** The sum across every server. */
  readonly total: bigint;
}

export interface UsageTablePage {
  readonly rows: UsageTableRow[];
  /** The column servers: those asked for, or every server with data for the metric, in UTF-8 byte order. */
  readonly servers: string[];
  /** Sums over every row the query selects (not only this page): per column server, and across all servers. */
  readonly totals: { readonly byServer: Readonly<Record<string, bigint>>; readonly total: bigint };
  /** Whether rows go on past this page in the direction it was read (after `before` rows: towards the start). */
  readonly more: boolean;
  /**
   * The snapshot this page was read at, for the pages next to it (set whenever there are any): an opaque token
   * that the adapter can read again for a while (an hour on SQLite), then refuses as GONE.
   */
  readonly snapshot?: string | undefined;
}

// ── Petnames and invitations (issue 4): account → human name, filled by hand or by accepted invitations ──

export interface Petname {
  readonly account: string;
  readonly name: string;
}

export interface NewInvitation {
  /** SHA-256 of the code, hex: the code itself is never stored. */
  readonly codeHash: string;
  readonly petname: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface PetnameStore {
  /** Petnames of these accounts; accounts without one are absent. */
  get(accounts: readonly string[]): Promise<Map<string, string>>;
  /** Sets every name in one transaction: all or nothing. */
  set(petnames: readonly Petname[]): Promise<void>;
  /** Whether there was a name to remove. */
  remove(account: string): Promise<boolean>;
  createInvitation(invitation: NewInvitation): Promise<void>;
  /**
   * Uses the invitation once: records `account` with the invitation's petname and marks the code used, in one
   * transaction. Throws NOT_FOUND for an unknown code, CONFLICT for a used or expired one.
   */
  acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname>;
}
