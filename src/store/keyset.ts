// Keyset paging over the usage table's order, shared by the store adapters: never OFFSET, always "after this key".

import { compareUtf8 } from "../domain/rollup.js";
import type { UsagePosition, UsageTablePage, UsageTableQuery, UsageTableRow } from "./port.js";

/** One row's place in the order: its sort value (null sorts last) and its account. */
export type Keyed = UsagePosition;

/**
 * A stretch of the order that one index answers: sorting by a server reads the accounts with a cell on it
 * (by value), then those without (by account). Reading starts at `bound` (exclusive), or at the segment's
 * start (forward) or end (backward) when bound is null, and returns rows nearest the start point first.
 * A segment may return more than the key (`K`), such as the whole row, when one statement can read both.
 */
export interface Segment<K extends Keyed = Keyed> {
  owns(position: UsagePosition): boolean;
  read(bound: UsagePosition | null, direction: "forward" | "backward", n: number): Promise<K[]> | K[];
}

/** The order of the usage table: value descending with null last, then account as UTF-8 bytes. */
export function comparePositions(a: UsagePosition, b: UsagePosition): number {
  if (a.value !== b.value) {
    if (a.value === null) return 1;
    if (b.value === null) return -1;
    return a.value > b.value ? -1 : 1;
  }
  return compareUtf8(a.account, b.account);
}

/** The order a segment reads in: comparePositions forward, its reverse backward. */
export const inOrder =
  (direction: "forward" | "backward") =>
  (a: UsagePosition, b: UsagePosition): number =>
    (direction === "forward" ? 1 : -1) * comparePositions(a, b);

/** The first `n` of two runs of rows, each in the read's order, in that order. */
export function mergeInOrder<K extends Keyed>(
  a: K[],
  b: readonly K[],
  direction: "forward" | "backward",
  n: number,
): K[] {
  return b.length === 0 ? a : [...a, ...b].sort(inOrder(direction)).slice(0, n);
}

/**
 * A segment whose index does not give every row it owns: at a snapshot, the accounts moved since are read from
 * their copies (`others`, in any order, all of them). Reads merge those past the bound with the index's rows.
 */
export function withRows<K extends Keyed>(
  segment: Segment<K>,
  others: () => Promise<readonly K[]> | readonly K[],
): Segment<K> {
  return {
    owns: segment.owns,
    read: async (bound, direction, n) => {
      const rows = await others();
      const past = bound === null ? rows : rows.filter((k) => inOrder(direction)(k, bound) > 0);
      return mergeInOrder(await segment.read(bound, direction, n), past, direction, n);
    },
  };
}

/**
 * A segment at a snapshot: the rows its index gives (the accounts that have not moved since), merged with those of
 * the accounts that moved, as they were at the snapshot, that belong to it. The table now (`moved` null): the
 * segment alone.
 */
export function withMovedRows<K extends Keyed, R>(
  moved: (() => Promise<readonly R[]> | readonly R[]) | null,
  keyOf: (row: R) => K,
  belongs: (row: R) => boolean,
  segment: Segment<K>,
): Segment<K> {
  return moved === null ? segment : withRows(segment, async () => (await moved()).filter(belongs).map(keyOf));
}

/** The orders a store's usage table indexes give, and the totals of a selection that one page may not hold. */
export interface UsageTableIndexes<K extends Keyed> {
  /** Accounts by total, largest first. */
  byTotal(): Segment<K>;
  /** Accounts with a cell on `server`, by that cell, largest first. */
  byCell(server: string): Segment<K>;
  /** Accounts by id; with `withoutServer`, only those with no cell on that server (the tail of a server sort). */
  byAccount(withoutServer: string | null): Segment<K>;
  /** Sums over every selected account: the totals row of a subset or a search. */
  selectionTotals(): Promise<UsageTablePage["totals"]> | UsageTablePage["totals"];
}

/**
 * One page of the usage table in the query's order, its rows made from the keys read (`rowsOf`), with `columns`.
 * A server sort reads the accounts with a cell on it, by value, then those without, by account. The totals row is
 * the whole table's (from `serverTotals`) unless the query selects accounts; then the page's own sums when it holds
 * the whole selection, else the selection's totals.
 */
export async function readUsagePage<K extends Keyed>(
  query: UsageTableQuery,
  indexes: UsageTableIndexes<K>,
  rowsOf: (keys: K[]) => Promise<UsageTableRow[]> | UsageTableRow[],
  serverTotals: ReadonlyMap<string, bigint>,
  columns: string[],
): Promise<UsageTablePage> {
  const { sort } = query;
  const segments =
    sort.by === "server"
      ? [indexes.byCell(sort.server), indexes.byAccount(sort.server)]
      : [sort.by === "account" ? indexes.byAccount(null) : indexes.byTotal()];
  const { keys, more } = await readSegments(segments, query);
  const rows = await rowsOf(keys);
  let totals: UsageTablePage["totals"];
  if (query.accounts === undefined && query.search === undefined) {
    totals = wholeTableTotals(serverTotals, columns);
  } else if (!more && query.after === undefined && query.before === undefined) {
    totals = pageTotals(rows, columns);
  } else {
    totals = await indexes.selectionTotals();
  }
  return { rows, servers: columns, totals, more };
}

/** Reads up to `limit` rows after `after` (or before `before`) across the segments, and whether more follow. */
export async function readSegments<K extends Keyed>(
  segments: readonly Segment<K>[],
  query: Pick<UsageTableQuery, "limit" | "after" | "before">,
): Promise<{ keys: K[]; more: boolean }> {
  const want = query.limit + 1;
  const keys: K[] = [];
  const backward = query.before !== undefined;
  const start = query.before ?? query.after ?? null;
  let index = start === null ? 0 : segments.findIndex((s) => s.owns(start));
  if (index < 0) index = backward ? segments.length - 1 : 0;
  let bound: UsagePosition | null = start;
  while (index >= 0 && index < segments.length && keys.length < want) {
    const segment = segments[index] as Segment<K>;
    keys.push(...(await segment.read(bound, backward ? "backward" : "forward", want - keys.length)));
    bound = null;
    index += backward ? -1 : 1;
  }
  const more = keys.length > query.limit;
  const page = keys.slice(0, query.limit);
  if (backward) page.reverse();
  return { keys: page, more };
}

/** One account's cells as an adapter found them for `at` (history): summed over instances, per server. */
export interface HistoryCell {
  readonly account: string;
  readonly server: string;
  readonly value: bigint;
}

/**
 * The usage table from a full set of cells, in memory: how history (`at`) is answered, since no index is kept
 * for past times. Filters, sorts and pages exactly as the maintained table does.
 */
export function pageInMemory(
  cells: readonly HistoryCell[],
  petnames: ReadonlyMap<string, string>,
  query: UsageTableQuery,
): UsageTablePage {
  const accounts = new Map<string, { byServer: Map<string, bigint>; total: bigint }>();
  const allServers = new Set<string>();
  for (const c of cells) {
    let a = accounts.get(c.account);
    if (!a) {
      a = { byServer: new Map(), total: 0n };
      accounts.set(c.account, a);
    }
    a.byServer.set(c.server, (a.byServer.get(c.server) ?? 0n) + c.value);
    a.total += c.value;
    allServers.add(c.server);
  }
  const subset = query.accounts ? new Set(query.accounts) : null;
  const needle = query.search?.toLowerCase();
  const columns = query.servers ? sortedUnique(query.servers) : [...allServers].sort(compareUtf8);
  const columnSet = new Set(columns);
  const selected: { key: Keyed; account: string; byServer: Map<string, bigint>; total: bigint }[] = [];
  const totals = new Map<string, bigint>();
  let grand = 0n;
  for (const [account, a] of accounts) {
    if (subset && !subset.has(account)) continue;
    if (needle !== undefined && !matches(account, petnames.get(account), needle)) continue;
    const value =
      query.sort.by === "total"
        ? a.total
        : query.sort.by === "server"
          ? (a.byServer.get(query.sort.server) ?? null)
          : null;
    selected.push({ key: { value, account }, account, byServer: a.byServer, total: a.total });
    for (const [server, v] of a.byServer) if (columnSet.has(server)) totals.set(server, (totals.get(server) ?? 0n) + v);
    grand += a.total;
  }
  selected.sort((x, y) => comparePositions(x.key, y.key));
  let from = 0;
  let to = selected.length;
  if (query.before) {
    const before = query.before;
    to = selected.findIndex((s) => comparePositions(s.key, before) >= 0);
    if (to < 0) to = selected.length;
    from = Math.max(0, to - query.limit);
  } else if (query.after) {
    const after = query.after;
    from = selected.findIndex((s) => comparePositions(s.key, after) > 0);
    if (from < 0) from = selected.length;
    to = Math.min(selected.length, from + query.limit);
  } else {
    to = Math.min(selected.length, query.limit);
  }
  const more = query.before ? from > 0 : to < selected.length;
  const rows: UsageTableRow[] = selected.slice(from, to).map((s) => ({
    account: s.account,
    petname: petnames.get(s.account) ?? null,
    byServer: Object.fromEntries([...s.byServer].filter(([server]) => columnSet.has(server))),
    total: s.total,
  }));
  return {
    rows,
    servers: columns,
    totals: {
      byServer: Object.fromEntries(columns.filter((s) => totals.has(s)).map((s) => [s, totals.get(s) as bigint])),
      total: grand,
    },
    more,
  };
}

function matches(account: string, petname: string | undefined, needle: string): boolean {
  return account.toLowerCase().includes(needle) || (petname?.toLowerCase().includes(needle) ?? false);
}

/** The items in UTF-8 byte order, each once. */
export function sortedUnique(items: readonly string[]): string[] {
  const unique = [...new Set(items)];
  // Below U+D800, UTF-16 code units sort as UTF-8 bytes do: the engine's own comparison then gives the same order
  // without encoding both strings for each of the ten thousand comparisons a large subset takes.
  return unique.some((item) => BEYOND_D7FF.test(item)) ? unique.sort(compareUtf8) : unique.sort();
}

const BEYOND_D7FF = /[\uD800-\uFFFF]/;

/** Escapes a search text for LIKE … ESCAPE '\': a substring match, with % and _ taken literally. */
export function likePattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** The totals row of the whole table: each shown column's server total, and the total across every server. */
export function wholeTableTotals(
  serverTotals: ReadonlyMap<string, bigint>,
  columns: readonly string[],
): UsageTablePage["totals"] {
  const byServer: Record<string, bigint> = {};
  for (const name of columns) {
    const v = serverTotals.get(name);
    if (v !== undefined) byServer[name] = v;
  }
  return { byServer, total: [...serverTotals.values()].reduce((a, b) => a + b, 0n) };
}

/**
 * The totals row of a page that holds its whole selection (read from the start, nothing more): the sums of its
 * rows, which is what summing the selection's cells again would give, without reading them again.
 */
export function pageTotals(rows: readonly UsageTableRow[], columns: readonly string[]): UsageTablePage["totals"] {
  const byServer: Record<string, bigint> = {};
  let total = 0n;
  for (const row of rows) total += row.total;
  for (const name of columns) {
    let sum: bigint | undefined;
    for (const row of rows) {
      const v = row.byServer[name];
      if (v !== undefined) sum = (sum ?? 0n) + v;
    }
    if (sum !== undefined) byServer[name] = sum;
  }
  return { byServer, total };
}

/** A function that computes its value the first time it is called, and gives that value every time after. */
export function once<T>(compute: () => T): () => T {
  let value: { readonly v: T } | null = null;
  return () => {
    value ??= { v: compute() };
    return value.v;
  };
}

/** A record with its keys in UTF-8 byte order. */
export function sortRecord(record: Record<string, bigint>): Record<string, bigint> {
  return Object.fromEntries(sortedUnique(Object.keys(record)).map((k) => [k, record[k] as bigint]));
}
