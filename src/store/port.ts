// The store contract every adapter (SQLite, PostgreSQL) implements and the shared suite in contract.ts checks.

import type { DayRow } from "../domain/day-usage.js";
import type { UsageEvent } from "../domain/event.js";
import type { MetricKind } from "../domain/metric.js";
import type { Dims, RollupRow } from "../domain/rollup.js";

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
  /** The kept dims of the series' events (ROLLUP_DIMS); {} when none. */
  readonly dims: Dims;
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

export interface AccountsRollupQuery {
  /** The accounts read; those with no series of the metrics have no rows. */
  readonly accounts: readonly string[];
  /** Hours from (inclusive) and to (exclusive), epoch ms. */
  readonly from: number;
  readonly to: number;
  readonly metrics: readonly string[];
}

export interface CounterSumQuery {
  readonly account: string;
  /** Hours from (inclusive) and to (exclusive), epoch ms. */
  readonly from: number;
  readonly to: number;
  /** Counter metrics; others have no sums. */
  readonly metrics: readonly string[];
  readonly servers?: readonly string[];
  /** A sum per metric and hour instead of one per metric over the range. */
  readonly byHour: boolean;
}

export interface CounterSum {
  readonly metric: string;
  /** The hour summed (byHour), or null for the whole range. */
  readonly hour: number | null;
  readonly sum: bigint;
}

export interface RollupScanQuery {
  /** Hours from (inclusive) and to (exclusive), epoch ms. */
  readonly from: number;
  readonly to: number;
  readonly metrics: readonly string[];
  /** Accounts a page holds at most (default 1,000). */
  readonly pageAccounts?: number;
}

export interface AccountsAfterQuery {
  readonly metrics: readonly string[];
  /** The accounts after this one in UTF-8 order; null: from the first. */
  readonly after: string | null;
  readonly limit: number;
}

/** A run of accounts, next to each other in UTF-8 order, with their rollup rows. */
export interface RollupPage {
  /** Every account with a series of the metrics after the previous page's last, up to pageAccounts, in order. */
  readonly accounts: readonly string[];
  /** The rows `rollups` gives for each of them, account after account in the order of `accounts`. */
  readonly rows: RollupRow[];
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

/** The kind each metric was first stored with: insertEvents refuses an event of another kind. */
export interface MetricKindReader {
  metricKinds(): Promise<Record<string, MetricKind>>;
}

/** Where a batch came from when this node did not measure it: a subscription, and its position in that feed. */
export interface EventSource {
  /** The subscription's id; its events are relayed, not origin, in this node's feeds. */
  readonly name: string;
  /** The feed cursor after the batch, committed with it: a restart resumes exactly there. */
  readonly position: string;
  /**
   * The cursor the batch was read after (null for the feed's start). When the stored one is another, a node sharing
   * the store pulled the source first: the batch is refused with CONFLICT and changes nothing.
   */
  readonly after: string | null;
}

export interface InsertOptions {
  readonly source?: EventSource | undefined;
}

/** Events in: the one write path every meter, subscription and broker uses. */
export interface EventLog extends MetricKindReader {
  /**
   * Commits the events in one transaction and only then resolves. Idempotent on (server, id): an event seen
   * before, in this batch or any earlier one, counts as a duplicate and changes nothing. The first kind stored for
   * a metric is the one it keeps; an event of another kind is rejected, naming both. With a source, its position
   * is committed in the same transaction (also for an empty batch), and the events are marked as received.
   */
  insertEvents(events: readonly UsageEvent[], options?: InsertOptions): Promise<InsertOutcome>;
  /** The position last committed for a source, or null if none. */
  sourcePosition(name: string): Promise<string | null>;
}

/** Which stored events a feed passes on. */
export interface FeedFilter {
  /** Only the events this node measured itself, not those received from its subscriptions. */
  readonly originOnly: boolean;
  /** Only the events of these servers; null for every server. */
  readonly servers: readonly string[] | null;
}

export interface FeedPage {
  /** Batches in the order they committed; within a batch, in the order the adapter stored them. */
  readonly events: UsageEvent[];
  /** The cursor after this page (past events the filter skipped); the one asked for when nothing is new. */
  readonly next: string | null;
  /** Whether events the page left out are already readable after `next`. */
  readonly more: boolean;
  /** Events stored after `next`, before the filter: an upper bound on what is still to come, for the lag. */
  readonly remaining: number;
}

/** The events in the order the store committed them, for feeds: a reader never skips an event committed late. */
export interface EventFeedReader {
  /** Events stored after `cursor` (null: from the first), at most `limit`. A cursor is opaque, per adapter. */
  eventsAfter(cursor: string | null, limit: number, filter: FeedFilter): Promise<FeedPage>;
}

/** Rollups and current levels out: what views, records and charging read. */
export interface UsageReader extends MetricKindReader {
  /** Latest reading of a level or state per (server, account, instance). */
  currentLevels(query: CurrentLevelQuery): Promise<CurrentLevel[]>;
  /** Rollup rows for one account over a range of hours, ordered by server, metric, instance and hour. */
  rollups(query: RollupQuery): Promise<RollupRow[]>;
  /**
   * Counter sums of one account over a range, across servers, instances and dims, per metric (and hour): what
   * the rollups give, summed by the store instead of read row by row. Ordered by metric, then hour.
   */
  counterSums(query: CounterSumQuery): Promise<CounterSum[]>;
  /**
   * Every account's rollups of some metrics over a range, in pages of whole accounts in UTF-8 order: one pass over
   * the store instead of a read per account. Each page's rows are read at one moment; pages read later may see newer
   * events.
   */
  rollupPages(query: RollupScanQuery): AsyncIterable<RollupPage>;
  /**
   * The next `limit` accounts, in UTF-8 order, with a series of the metrics (whatever its rows): the accounts
   * rollupPages pages through, without reading their usage. For runs over every account that read each page by day.
   */
  accountsAfter(query: AccountsAfterQuery): Promise<string[]>;
  /**
   * The rollups of several accounts in one read: the rows `rollups` gives for each, account after account in UTF-8
   * order, as a page of rollupPages holds them. For a billing run, which reads the accounts it was given a page at a time.
   */
  accountsRollups(query: AccountsRollupQuery): Promise<RollupRow[]>;
  /**
   * Several accounts' usage by UTC day over whole days [from, to) (both on a day's start), in one read: the rows
   * `daysOfHours` makes of the accounts' hourly rollups with the hours between readings filled and each level or
   * state's latest reading before `to` held until `to`. Sorted as sortDays. For bills and records, which would
   * otherwise read a month of a series as 744 rows: a store keeps the days beside its hourly rollups.
   */
  accountsDays(query: AccountsRollupQuery): Promise<DayRow[]>;
  /** Every server that has sent events, by id. */
  servers(): Promise<ServerInfo[]>;
  /**
   * Where another thread of this process opens this store's reads (openAccountsReader): as of now, having first
   * derived everything acknowledged, so that the other thread sees it.
   */
  readerLocation(): Promise<ReaderLocation>;
}

/** The reads of pages of accounts' usage: what another thread needs to make their records. */
export type AccountsReader = Pick<UsageReader, "currentLevels" | "accountsRollups" | "accountsDays">;

/** Where a store's reads are, as plain data that can be posted to a worker thread. */
export type ReaderLocation =
  | {
      readonly store: "sqlite";
      /** The derived database's file. */
      readonly derived: string;
      /** The servers' names by id, which the event log holds: servers heard of since are found by a later location. */
      readonly servers: readonly (readonly [number, string])[];
    }
  | { readonly store: "postgres"; readonly url: string; readonly schema: string | null };

/** The usage table: maintained totals per account and cells per (account, server), paged by key. */
export interface UsageTableReader {
  /** One page of the usage table: accounts by servers, with totals. */
  usageTable(query: UsageTableQuery): Promise<UsageTablePage>;
}

/** How far rollups and the usage table are behind the event log. */
export interface DerivationLag {
  /** Events committed and not yet derived. */
  readonly events: number;
  /** How long the oldest of them has waited since its batch was committed; 0 when none waits. */
  readonly seconds: number;
}

/** What operators and checks need: everything at once, derivation again, counts. */
export interface StoreMaintenance {
  /** Every rollup row, in the same order as computeRollups returns them (for checks and rebuilds). */
  allRollups(): Promise<RollupRow[]>;
  /** Drops every rollup and derives them again from the stored events. */
  rebuildRollups(): Promise<{ events: number; rollups: number }>;
  stats(): Promise<StoreStats>;
  /** The derived state's lag behind the log, without waiting for it (0 where it is written with the events). */
  derivationLag(): Promise<DerivationLag>;
}

/** One adapter's event store: every port above, on one connection or pool. */
export interface UsageStore extends EventLog, EventFeedReader, UsageReader, UsageTableReader, StoreMaintenance {
  /** Names the adapter and where it keeps its data, without secrets, for the start-up log line. */
  readonly description: string;
  close(): Promise<void>;
}

// ── The usage table: maintained per-(metric, account) totals and per-(metric, account, server) cells ──

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
