// The usage table on SQLite: current level totals per (metric, account) and cells per (metric, account, server),
// written by the store's derived state together with the series they sum (derived-state.ts), paged by key.
//
// Values are exact integers of any size, so the tables hold them as a `rank` (usage-ranks.ts): one index then
// answers "largest first, then by account", from any point, and the value is decoded from the rank.

import type Database from "better-sqlite3";
import { validation } from "../../domain/errors.js";
import { hourOf } from "../../domain/time.js";
import {
  type HistoryCell,
  type Keyed,
  likePattern,
  once,
  pageInMemory,
  readUsagePage,
  type Segment,
  sortedUnique,
  sortRecord,
  type UsageTableIndexes,
  withMovedRows,
} from "../keyset.js";
import type { UsagePosition, UsageTablePage, UsageTableQuery, UsageTableRow } from "../port.js";
import { latestRowBefore } from "./rollup-reads.js";
import { fromRank, fromRankHex, parseCells, toRank } from "./usage-ranks.js";
import { checkSnapshot, type SnapshotHold } from "./usage-snapshots.js";
import { Meta } from "./values.js";

type DbNumber = bigint | number | string | null;
const toBig = (v: DbNumber): bigint => (v === null ? 0n : typeof v === "bigint" ? v : BigInt(v));

const MAX_CACHED_STATEMENTS = 200;

/** UsageStore.usageTable on SQLite: shares the usage store's connection. */
export class SqliteUsageTable {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly meta: Meta;

  /** `hold` keeps a snapshot readable for the pages after the first (SnapshotHold). */
  constructor(
    private readonly db: Database.Database,
    private readonly hold: SnapshotHold,
  ) {
    this.meta = new Meta(db, "derived.meta");
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    return query.at === undefined ? this.current(query) : this.history(query, query.at);
  }

  /** The table now, or at the snapshot the query names. The derived state is written: the store flushed it. */
  private async current(query: UsageTableQuery): Promise<UsageTablePage> {
    const at = query.snapshot === undefined ? null : snapshotSeq(query.snapshot);
    if (at !== null) checkSnapshot(this.meta, at);
    const metricId = this.get<{ id: bigint }>("SELECT id FROM usage_metrics WHERE name = ?", query.metric)?.id;
    const serverNames = new Map(
      this.all<{ id: bigint; name: string }>("SELECT id, name FROM servers").map((s) => [Number(s.id), s.name]),
    );
    const serverIds = new Map([...serverNames].map(([id, name]) => [name, id]));
    if (metricId === undefined) {
      return { rows: [], servers: sortedUnique(query.servers ?? []), totals: { byServer: {}, total: 0n }, more: false };
    }
    const serverTotals = new Map<string, bigint>();
    for (const [id, rank] of this.serverTotals(metricId, at)) {
      serverTotals.set(serverNames.get(id) as string, fromRank(rank));
    }
    const columns = sortedUnique(query.servers ?? [...serverTotals.keys()]);
    const columnIds: [number, string][] = columns.flatMap((name) =>
      serverIds.has(name) ? [[serverIds.get(name) as number, name] as [number, string]] : [],
    );

    const filter: Filter = {
      metricId,
      subset: query.accounts ? JSON.stringify(sortedUnique(query.accounts)) : null,
      like: query.search === undefined ? null : likePattern(query.search),
      at,
    };
    const read: Reader = {
      filter,
      rowOf: rowReader(columnIds),
      moved: at === null ? null : once(() => this.moved(filter)),
    };
    const noCells: Segment<PageRow> = { owns: (p) => p.value !== null, read: () => [] };
    const indexes: UsageTableIndexes<PageRow> = {
      byTotal: () => this.totalSegment(read),
      byCell: (server) => {
        const id = serverIds.get(server);
        return id === undefined ? noCells : this.cellSegment(read, id);
      },
      byAccount: (withoutServer) =>
        this.accountSegment(read, withoutServer === null ? null : (serverIds.get(withoutServer) ?? null)),
      selectionTotals: () => this.selectionTotals(read, new Map(columnIds)),
    };
    const page = await readUsagePage(query, indexes, (keys) => keys.map((k) => k.row), serverTotals, columns);
    let snapshot: string | undefined;
    if (at !== null) {
      snapshot = query.snapshot;
    } else if (page.more || query.after !== undefined || query.before !== undefined) {
      // Pages follow: keep this moment readable for them, or, if the log started too late for it, read again.
      const seq = this.meta.get("usage_seq", 1);
      if (!(await this.hold(seq))) return this.current(query);
      snapshot = String(seq);
    }
    return { ...page, snapshot };
  }

  /** Each server's total (as a rank) now, or at a snapshot: the first copy after it where the server moved since. */
  private serverTotals(metricId: bigint, at: number | null): [number, Uint8Array][] {
    const now = this.raw<[bigint, Uint8Array]>(
      "SELECT server_id, rank FROM usage_server_totals WHERE metric_id = ?",
      metricId,
    );
    const totals = new Map(now.map(([id, rank]) => [Number(id), rank as Uint8Array | null]));
    if (at !== null) {
      for (const [id, rank] of this.raw<[bigint, bigint, Uint8Array | null]>(
        `SELECT server_id, min(seq), rank FROM usage_server_log WHERE metric_id = ? AND seq > ? GROUP BY server_id`,
        metricId,
        at,
      ).map(([id, , rank]) => [Number(id), rank] as const)) {
        totals.set(id, rank);
      }
    }
    return [...totals].filter((t): t is [number, Uint8Array] => t[1] !== null);
  }

  /** Sums over every selected account: the totals row of a subset or a search. */
  private selectionTotals(read: Reader, columnIds: Map<number, string>): UsageTablePage["totals"] {
    const { from, where, params } = this.source(read.filter, "usage_totals");
    const conditions = [where, ...unmoved(read.filter, "t", params)];
    const byServer: Record<string, bigint> = {};
    let total = 0n;
    const add = (cells: string) => {
      for (const [id, value] of parseCells(cells)) {
        total += value;
        const server = columnIds.get(id);
        if (server !== undefined) byServer[server] = (byServer[server] ?? 0n) + value;
      }
    };
    for (const [cells] of this.raw<[string]>(
      `SELECT t.cells FROM ${from} WHERE ${conditions.join(" AND ")}`,
      ...params,
    ))
      add(cells);
    for (const r of read.moved?.() ?? []) add(r[2]);
    return { byServer: sortRecord(byServer), total };
  }

  /**
   * FROM and WHERE over `table` (or a subquery with its own parameters) aliased t, with metric_id and account
   * columns, under the filter.
   */
  private source(
    filter: Filter,
    table: string,
    tableParams: readonly unknown[] = [],
  ): { from: string; where: string; params: unknown[] } {
    const params: unknown[] = [];
    let from: string;
    const where = ["t.metric_id = ?"];
    if (filter.subset !== null) {
      // The listed accounts drive the join: a subset is read by key, never by scanning the table.
      from = `json_each(?) j CROSS JOIN ${table} t ON t.account = j.value`;
      params.push(filter.subset);
    } else {
      from = `${table} t`;
    }
    params.push(...tableParams, filter.metricId);
    if (filter.like !== null) {
      where.push(
        `(t.account LIKE ? ESCAPE '\\' OR t.account IN (SELECT account FROM petnames WHERE name LIKE ? ESCAPE '\\'))`,
      );
      params.push(filter.like, filter.like);
    }
    return { from, where: where.join(" AND "), params };
  }

  /**
   * The selected accounts that moved after the snapshot, as they were at it (RawRow), from the first copy of each
   * after it; accounts that had no row then are left out.
   */
  private moved(filter: Filter): RawRow[] {
    const { from, where, params } = this.source(
      filter,
      "(SELECT metric_id, account, min(seq), rank, cells FROM usage_log WHERE metric_id = ? AND seq > ? GROUP BY account)",
      [filter.metricId, filter.at],
    );
    return this.raw<RawRow>(
      `SELECT t.account, hex(t.rank), t.cells, ${PETNAME} FROM ${from} WHERE ${where} AND t.rank IS NOT NULL`,
      ...params,
    );
  }

  /** Accounts by total, largest first. */
  private totalSegment(read: Reader): Segment<PageRow> {
    const keyed = (r: RawRow): PageRow => {
      const row = read.rowOf(r);
      return { account: row.account, value: row.total, row };
    };
    return withMovedRows(read.moved, keyed, () => true, {
      owns: () => true,
      read: (bound, direction, n) => {
        const { from, where, params } = this.source(read.filter, "usage_totals");
        const conditions = [where, ...unmoved(read.filter, "t", params), ...after(bound, direction, params)];
        params.push(n);
        return this.raw<RawRow>(
          `SELECT t.account, hex(t.rank), t.cells, ${PETNAME} FROM ${from}
           WHERE ${conditions.join(" AND ")} ORDER BY ${order(direction)} LIMIT ?`,
          ...params,
        ).map(keyed);
      },
    });
  }

  /** Accounts with a cell on one server, by that cell, largest first. */
  private cellSegment(read: Reader, serverId: number): Segment<PageRow> {
    const cell = (r: RawRow) => parseCells(r[2]).get(serverId);
    return withMovedRows(
      read.moved,
      (r) => ({ account: r[0], value: cell(r) as bigint, row: read.rowOf(r) }),
      (r) => cell(r) !== undefined,
      {
        owns: (p) => p.value !== null,
        read: (bound, direction, n) => {
          const { from, where, params } = this.source(read.filter, "usage_cells");
          const conditions = [where, "t.server_id = ?"];
          params.push(serverId);
          conditions.push(...unmoved(read.filter, "u", params), ...after(bound, direction, params));
          params.push(n);
          return this.raw<RawRow>(
            `SELECT t.account, hex(u.rank), u.cells, ${PETNAME}, hex(t.rank) FROM ${from}
             CROSS JOIN usage_totals u ON u.metric_id = t.metric_id AND u.account = t.account
             WHERE ${conditions.join(" AND ")} ORDER BY ${order(direction)} LIMIT ?`,
            ...params,
          ).map((r) => ({ account: r[0], value: fromRankHex(r[4] as string), row: read.rowOf(r) }));
        },
      },
    );
  }

  /** Accounts by id; with `withoutServer`, only those with no cell on that server (the tail of a server sort). */
  private accountSegment(read: Reader, withoutServer: number | null): Segment<PageRow> {
    const keyed = (r: RawRow): PageRow => ({ account: r[0], value: null, row: read.rowOf(r) });
    const belongs = (r: RawRow) => withoutServer === null || !parseCells(r[2]).has(withoutServer);
    return withMovedRows(read.moved, keyed, belongs, {
      owns: (p) => p.value === null,
      read: (bound, direction, n) => {
        const { from, where, params } = this.source(read.filter, "usage_totals");
        const conditions = [where];
        if (withoutServer !== null) {
          conditions.push(
            "NOT EXISTS (SELECT 1 FROM usage_cells c WHERE c.metric_id = t.metric_id AND c.account = t.account AND c.server_id = ?)",
          );
          params.push(withoutServer);
        }
        conditions.push(...unmoved(read.filter, "t", params));
        if (bound) {
          conditions.push(`t.account ${direction === "forward" ? ">" : "<"} ?`);
          params.push(bound.account);
        }
        params.push(n);
        return this.raw<RawRow>(
          `SELECT t.account, hex(t.rank), t.cells, ${PETNAME} FROM ${from} WHERE ${conditions.join(" AND ")}
           ORDER BY t.account${direction === "forward" ? "" : " DESC"} LIMIT ?`,
          ...params,
        ).map(keyed);
      },
    });
  }

  /**
   * The table at a past time, to the hour: each level series' value at the start of the hour holding `at`,
   * which is the `last` of its latest rollup before that hour.
   */
  private async history(query: UsageTableQuery, at: number): Promise<UsageTablePage> {
    const hour = hourOf(at);
    const subset = query.accounts ? JSON.stringify(sortedUnique(query.accounts)) : null;
    const rows = this.all<{
      account: string;
      server: string;
      id: bigint;
      first_hour: bigint;
      time: bigint;
      value: DbNumber;
    }>(
      `SELECT s.account, v.name AS server, s.id, l.first_hour, l.time, l.value
       FROM series s JOIN servers v ON v.id = s.server_id JOIN latest l ON l.series_id = s.id
       WHERE s.metric = ? AND s.kind = 'level'${subset === null ? "" : " AND s.account IN (SELECT value FROM json_each(?))"}`,
      query.metric,
      ...(subset === null ? [] : [subset]),
    );
    const lastBefore = latestRowBefore(this.db);
    const cells: HistoryCell[] = [];
    for (const r of rows) {
      // A series read before the hour last of all holds its latest value; the others' row before it is looked for.
      const value =
        Number(r.time) < hour ? r.value : (lastBefore(Number(r.id), Number(r.first_hour), hour)?.last as DbNumber);
      if (value !== undefined && value !== null)
        cells.push({ account: r.account, server: r.server, value: toBig(value) });
    }
    // A search looks at every petname; otherwise only the accounts found need theirs.
    const named =
      query.search === undefined
        ? this.all<{ account: string; name: string }>(
            "SELECT p.account, p.name FROM json_each(?) j CROSS JOIN petnames p ON p.account = j.value",
            JSON.stringify([...new Set(cells.map((c) => c.account))]),
          )
        : this.all<{ account: string; name: string }>("SELECT account, name FROM petnames");
    const petnames = new Map(named.map((p) => [p.account, p.name]));
    return pageInMemory(cells, petnames, query);
  }

  private all<T>(sql: string, ...params: unknown[]): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  /** Rows as arrays: cheaper than objects when there are a thousand of them. */
  private raw<T>(sql: string, ...params: unknown[]): T[] {
    return this.rawStatement(sql).all(...params) as T[];
  }

  private rawStatement(sql: string): Database.Statement {
    const key = `raw:${sql}`;
    let s = this.statements.get(key);
    if (!s) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      s = this.db.prepare(sql).raw(true);
      this.statements.set(key, s);
    }
    return s;
  }

  private get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.statement(sql).get(...params) as T | undefined;
  }

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}

interface Filter {
  readonly metricId: bigint;
  /** JSON array of the subset's accounts, or null for every account. */
  readonly subset: string | null;
  /** LIKE pattern of the search, or null. */
  readonly like: string | null;
  /** The snapshot read (a derived-state cursor), or null for the table now. */
  readonly at: number | null;
}

/** What every segment of one read shares: its filter, how it decodes rows, and the accounts moved since its snapshot. */
interface Reader {
  readonly filter: Filter;
  readonly rowOf: RowReader;
  readonly moved: (() => RawRow[]) | null;
}

/** A snapshot as the cursor carries it: the derived-state cursor, in decimal. */
function snapshotSeq(text: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw validation("the cursor is not one this table gave out");
  return Number(text);
}

/** At a snapshot, only the rows that have not moved since: the others are read from their copies. */
function unmoved(filter: Filter, alias: string, params: unknown[]): string[] {
  if (filter.at === null) return [];
  params.push(filter.at);
  return [`${alias}.changed <= ?`];
}

/** Rows strictly past `bound` in the (rank, account) order of the index. */
function after(bound: UsagePosition | null, direction: "forward" | "backward", params: unknown[]): string[] {
  if (!bound) return [];
  params.push(toRank(bound.value ?? 0n), bound.account);
  return [`(t.rank, t.account) ${direction === "forward" ? ">" : "<"} (?, ?)`];
}

const order = (direction: "forward" | "backward") =>
  direction === "forward" ? "t.rank, t.account" : "t.rank DESC, t.account DESC";

/** One page row as its segment read it: the key it is ordered by, and the row. */
interface PageRow extends Keyed {
  readonly row: UsageTableRow;
}

/** account, hex(total rank), the cells (parseCells) and the petname, then anything a segment reads besides. */
type RawRow = readonly [string, string, string, string | null, ...unknown[]];
type RowReader = (raw: RawRow) => UsageTableRow;

const PETNAME = "(SELECT p.name FROM petnames p WHERE p.account = t.account)";

/** Decodes raw rows into table rows with cells for the given columns only, in column order. */
function rowReader(columns: readonly [number, string][]): RowReader {
  return ([account, totalHex, cells, petname]) => {
    const byServer: Record<string, bigint> = {};
    if (cells !== "") {
      const found = parseCells(cells);
      for (const [id, name] of columns) {
        const value = found.get(id);
        if (value !== undefined) byServer[name] = value;
      }
    }
    return { account, petname, byServer, total: fromRankHex(totalHex) };
  };
}
