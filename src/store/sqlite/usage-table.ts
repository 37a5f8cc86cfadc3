// The usage table on SQLite: current level totals per (metric, account) and cells per (metric, account, server),
// written by the store's derived state together with the series they sum (derived-state.ts), paged by key.
//
// Values are exact integers of any size, so the tables hold them as a `rank`: a byte string whose byte order
// is descending value order (see toRank). One index then answers "largest first, then by account", from
// any point, and the value is decoded from the rank without reading the table.

import type Database from "better-sqlite3";
import { hourOf } from "../../domain/time.js";
import {
  type HistoryCell,
  type Keyed,
  likePattern,
  pageInMemory,
  pageTotals,
  readSegments,
  type Segment,
  sortedUnique,
  wholeTableTotals,
} from "../../usage/keyset.js";
import type { UsagePosition, UsageTablePage, UsageTableQuery, UsageTableRow } from "../port.js";
import { migrate } from "./migrations.js";
import { toDb } from "./values.js";

export const USAGE_VIEW_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE usage_metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
  CREATE TABLE usage_cells (
    metric_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    server_id INTEGER NOT NULL,
    rank BLOB NOT NULL,
    PRIMARY KEY (metric_id, account, server_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX usage_cells_by_server ON usage_cells (metric_id, server_id, rank, account);
  CREATE TABLE usage_totals (
    metric_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    rank BLOB NOT NULL,
    PRIMARY KEY (metric_id, account)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX usage_totals_by_rank ON usage_totals (metric_id, rank, account);
  CREATE TABLE usage_server_totals (
    metric_id INTEGER NOT NULL,
    server_id INTEGER NOT NULL,
    rank BLOB NOT NULL,
    PRIMARY KEY (metric_id, server_id)
  ) STRICT, WITHOUT ROWID;

  -- Every change of a level's latest value moves its cell, its account's total and its server's total by the
  -- difference. The adapter writes last_value nowhere else, and rebuilds go through the same UPDATE. A row is
  -- only ever inserted for a series' first value (any earlier value made the row), so VALUES adds NEW alone.
  CREATE TRIGGER usage_view_level AFTER UPDATE OF last_value ON series
  WHEN NEW.kind = 'level' AND NEW.last_value IS NOT OLD.last_value
  BEGIN
    INSERT INTO usage_metrics (name) VALUES (NEW.metric) ON CONFLICT (name) DO NOTHING;
    INSERT INTO usage_cells (metric_id, account, server_id, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = NEW.metric), NEW.account, NEW.server_id,
              tally_rank_add(NULL, NEW.last_value, NULL))
      ON CONFLICT (metric_id, account, server_id) DO UPDATE SET rank = tally_rank_add(rank, NEW.last_value, OLD.last_value);
    INSERT INTO usage_totals (metric_id, account, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = NEW.metric), NEW.account,
              tally_rank_add(NULL, NEW.last_value, NULL))
      ON CONFLICT (metric_id, account) DO UPDATE SET rank = tally_rank_add(rank, NEW.last_value, OLD.last_value);
    INSERT INTO usage_server_totals (metric_id, server_id, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = NEW.metric), NEW.server_id,
              tally_rank_add(NULL, NEW.last_value, NULL))
      ON CONFLICT (metric_id, server_id) DO UPDATE SET rank = tally_rank_add(rank, NEW.last_value, OLD.last_value);
  END;

  -- A store that had levels before this migration: derive the view from their latest values once.
  INSERT INTO usage_metrics (name) SELECT DISTINCT metric FROM series WHERE kind = 'level' AND last_value IS NOT NULL;
  INSERT INTO usage_cells (metric_id, account, server_id, rank)
    SELECT m.id, s.account, s.server_id, tally_rank_sum(s.last_value)
    FROM series s JOIN usage_metrics m ON m.name = s.metric
    WHERE s.kind = 'level' AND s.last_value IS NOT NULL
    GROUP BY m.id, s.account, s.server_id;
  INSERT INTO usage_totals (metric_id, account, rank)
    SELECT metric_id, account, tally_rank_sum(tally_unrank(rank)) FROM usage_cells GROUP BY metric_id, account;
  INSERT INTO usage_server_totals (metric_id, server_id, rank)
    SELECT metric_id, server_id, tally_rank_sum(tally_unrank(rank)) FROM usage_cells GROUP BY metric_id, server_id;
  `,
  // Series written with a value, or removed, move the view too: the adapter does neither today, but a rebuild
  // or repair that did would otherwise leave the view behind without a sound.
  `
  CREATE TRIGGER usage_view_level_insert AFTER INSERT ON series
  WHEN NEW.kind = 'level' AND NEW.last_value IS NOT NULL
  BEGIN
    INSERT INTO usage_metrics (name) VALUES (NEW.metric) ON CONFLICT (name) DO NOTHING;
    INSERT INTO usage_cells (metric_id, account, server_id, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = NEW.metric), NEW.account, NEW.server_id, tally_rank_add(NULL, NEW.last_value, NULL))
      ON CONFLICT (metric_id, account, server_id) DO UPDATE SET rank = tally_rank_add(rank, NEW.last_value, NULL);
    INSERT INTO usage_totals (metric_id, account, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = NEW.metric), NEW.account, tally_rank_add(NULL, NEW.last_value, NULL))
      ON CONFLICT (metric_id, account) DO UPDATE SET rank = tally_rank_add(rank, NEW.last_value, NULL);
    INSERT INTO usage_server_totals (metric_id, server_id, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = NEW.metric), NEW.server_id, tally_rank_add(NULL, NEW.last_value, NULL))
      ON CONFLICT (metric_id, server_id) DO UPDATE SET rank = tally_rank_add(rank, NEW.last_value, NULL);
  END;
  CREATE TRIGGER usage_view_level_delete AFTER DELETE ON series
  WHEN OLD.kind = 'level' AND OLD.last_value IS NOT NULL
  BEGIN
    INSERT INTO usage_metrics (name) VALUES (OLD.metric) ON CONFLICT (name) DO NOTHING;
    INSERT INTO usage_cells (metric_id, account, server_id, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = OLD.metric), OLD.account, OLD.server_id, tally_rank_add(NULL, NULL, NULL))
      ON CONFLICT (metric_id, account, server_id) DO UPDATE SET rank = tally_rank_add(rank, NULL, OLD.last_value);
    INSERT INTO usage_totals (metric_id, account, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = OLD.metric), OLD.account, tally_rank_add(NULL, NULL, NULL))
      ON CONFLICT (metric_id, account) DO UPDATE SET rank = tally_rank_add(rank, NULL, OLD.last_value);
    INSERT INTO usage_server_totals (metric_id, server_id, rank)
      VALUES ((SELECT id FROM usage_metrics WHERE name = OLD.metric), OLD.server_id, tally_rank_add(NULL, NULL, NULL))
      ON CONFLICT (metric_id, server_id) DO UPDATE SET rank = tally_rank_add(rank, NULL, OLD.last_value);
  END;
  `,
  // The store's derived state writes the view with the series, in bulk: no trigger; the store derives the series
  // again (usage migration 2), and the view with them.
  `
  DROP TRIGGER IF EXISTS usage_view_level;
  DROP TRIGGER IF EXISTS usage_view_level_insert;
  DROP TRIGGER IF EXISTS usage_view_level_delete;
  DELETE FROM usage_cells;
  DELETE FROM usage_totals;
  DELETE FROM usage_server_totals;
  `,
];

/**
 * Encodes a non-negative integer so that byte order is descending numeric order: a length byte (255 minus the
 * number of bytes, so longer numbers come first), then the big-endian bytes, each complemented.
 */
export function toRank(value: bigint): Buffer {
  if (value < 0n) throw new Error(`a usage total went negative (${value}): the view is out of step with the series`);
  const hex = value === 0n ? "" : value.toString(16);
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
  const rank = Buffer.allocUnsafe(bytes.length + 1);
  rank[0] = 255 - bytes.length;
  for (let i = 0; i < bytes.length; i++) rank[i + 1] = 255 - (bytes[i] as number);
  return rank;
}

/**
 * fromRank of SQLite's hex(rank) (upper-case). Complementing each hex digit d is 15 - d; within 12 digits (48 bits)
 * the value is built in floating point, which is exact there and much cheaper than a bigint from a digit string.
 */
export function fromRankHex(hex: string): bigint {
  if (hex.length <= 2) return 0n;
  if (hex.length > 14) {
    let digits = "0x";
    for (let i = 2; i < hex.length; i++) digits += COMPLEMENT[hex.charCodeAt(i)] as string;
    return BigInt(digits);
  }
  let value = 0;
  for (let i = 2; i < hex.length; i++) {
    const c = hex.charCodeAt(i);
    value = value * 16 + 15 - (c <= 57 ? c - 48 : c - 55);
  }
  return BigInt(value);
}

/** The complement of each upper-case hex digit, by character code. */
const COMPLEMENT: string[] = [];
for (let d = 0; d < 16; d++) COMPLEMENT["0123456789ABCDEF".charCodeAt(d)] = (15 - d).toString(16);

export function fromRank(rank: Uint8Array): bigint {
  let hex = "";
  for (let i = 1; i < rank.length; i++) hex += (255 - (rank[i] as number)).toString(16).padStart(2, "0");
  return hex === "" ? 0n : BigInt(`0x${hex}`);
}

type DbNumber = bigint | number | string | null;
const toBig = (v: DbNumber): bigint => (v === null ? 0n : typeof v === "bigint" ? v : BigInt(v));

/** The SQL functions the trigger and the migration use; registered on every connection before either runs. */
function registerFunctions(db: Database.Database): void {
  const options = { safeIntegers: true, deterministic: true } as const;
  db.function("tally_rank_add", options, (rank: unknown, plus: unknown, minus: unknown) => {
    const base = rank === null ? 0n : fromRank(rank as Uint8Array);
    return toRank(base + toBig(plus as DbNumber) - toBig(minus as DbNumber));
  });
  db.function("tally_unrank", options, (rank: unknown) => toDb(fromRank(rank as Uint8Array)));
  db.aggregate("tally_rank_sum", {
    ...options,
    start: () => 0n,
    step: (sum: bigint, value: unknown) => sum + toBig(value as DbNumber),
    result: (sum: bigint) => toRank(sum),
  });
}

const MAX_CACHED_STATEMENTS = 200;

/** UsageStore.usageTable on SQLite: shares the usage store's connection. */
export class SqliteUsageTable {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {
    registerFunctions(db);
    migrate(db, "usage-view", USAGE_VIEW_MIGRATIONS);
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    return query.at === undefined ? this.current(query) : this.history(query, query.at);
  }

  private async current(query: UsageTableQuery): Promise<UsageTablePage> {
    const metricId = this.get<{ id: bigint }>("SELECT id FROM usage_metrics WHERE name = ?", query.metric)?.id;
    const serverNames = new Map(
      this.all<{ id: bigint; name: string }>("SELECT id, name FROM servers").map((s) => [Number(s.id), s.name]),
    );
    const serverIds = new Map([...serverNames].map(([id, name]) => [name, id]));
    const empty: UsageTablePage = {
      rows: [],
      servers: sortedUnique(query.servers ?? []),
      totals: { byServer: {}, total: 0n },
      more: false,
    };
    if (metricId === undefined) return empty;
    const serverTotals = new Map(
      this.all<{ server_id: bigint; rank: Uint8Array }>(
        "SELECT server_id, rank FROM usage_server_totals WHERE metric_id = ?",
        metricId,
      ).map((r) => [serverNames.get(Number(r.server_id)) as string, fromRank(r.rank)]),
    );
    const columns = sortedUnique(query.servers ?? [...serverTotals.keys()]);
    const columnIds: [number, string][] = columns.flatMap((name) =>
      serverIds.has(name) ? [[serverIds.get(name) as number, name] as [number, string]] : [],
    );

    const filter: Filter = {
      metricId,
      subset: query.accounts ? JSON.stringify(sortedUnique(query.accounts)) : null,
      like: query.search === undefined ? null : likePattern(query.search),
    };
    const rowOf = rowReader(columnIds);
    let segments: Segment<PageRow>[];
    if (query.sort.by === "server") {
      const serverId = serverIds.get(query.sort.server);
      segments =
        serverId === undefined
          ? [this.accountSegment(filter, null, rowOf)]
          : [this.cellSegment(filter, serverId, rowOf), this.accountSegment(filter, serverId, rowOf)];
    } else if (query.sort.by === "account") {
      segments = [this.accountSegment(filter, null, rowOf)];
    } else {
      segments = [this.totalSegment(filter, rowOf)];
    }
    const { keys, more } = await readSegments(segments, query);
    const rows = keys.map((k) => k.row);

    let totals: UsageTablePage["totals"];
    if (filter.subset === null && filter.like === null) {
      totals = wholeTableTotals(serverTotals, columns);
    } else if (!more && query.after === undefined && query.before === undefined) {
      totals = pageTotals(rows, columns);
    } else {
      totals = this.selectionTotals(filter, new Map(columnIds));
    }
    return { rows, servers: columns, totals, more };
  }

  /** Sums over every selected account: the totals row of a subset or a search. */
  private selectionTotals(filter: Filter, columnIds: Map<number, string>): UsageTablePage["totals"] {
    const { from, where, params } = this.source(filter, "t", "usage_totals");
    const byServer: Record<string, bigint> = {};
    let total = 0n;
    for (const [serverId, rank] of this.raw<[bigint, string]>(
      // CROSS JOIN: filter the accounts first, then probe their cells (not every cell, then its account).
      `SELECT c.server_id, hex(c.rank) FROM ${from}
       CROSS JOIN usage_cells c ON c.metric_id = t.metric_id AND c.account = t.account WHERE ${where}`,
      ...params,
    )) {
      const v = fromRankHex(rank);
      total += v;
      const server = columnIds.get(Number(serverId));
      if (server !== undefined) byServer[server] = (byServer[server] ?? 0n) + v;
    }
    return { byServer: sortRecord(byServer), total };
  }

  /** FROM and WHERE for a table aliased `alias` with metric_id and account columns, under the filter. */
  private source(filter: Filter, alias: string, table: string): { from: string; where: string; params: unknown[] } {
    const params: unknown[] = [];
    let from: string;
    const where = [`${alias}.metric_id = ?`];
    if (filter.subset !== null) {
      // The listed accounts drive the join: a subset is read by key, never by scanning the table.
      from = `json_each(?) j CROSS JOIN ${table} ${alias} ON ${alias}.account = j.value`;
      params.push(filter.subset);
    } else {
      from = `${table} ${alias}`;
    }
    params.push(filter.metricId);
    if (filter.like !== null) {
      where.push(
        `(${alias}.account LIKE ? ESCAPE '\\' OR ${alias}.account IN (SELECT account FROM petnames WHERE name LIKE ? ESCAPE '\\'))`,
      );
      params.push(filter.like, filter.like);
    }
    return { from, where: where.join(" AND "), params };
  }

  /** Accounts by total, largest first. */
  private totalSegment(filter: Filter, rowOf: RowReader): Segment<PageRow> {
    return {
      owns: () => true,
      read: (bound, direction, n) => this.readRanked(filter, "usage_totals", null, bound, direction, n, rowOf),
    };
  }

  /** Accounts with a cell on one server, by that cell, largest first. */
  private cellSegment(filter: Filter, serverId: number, rowOf: RowReader): Segment<PageRow> {
    return {
      owns: (p) => p.value !== null,
      read: (bound, direction, n) => this.readRanked(filter, "usage_cells", serverId, bound, direction, n, rowOf),
    };
  }

  private readRanked(
    filter: Filter,
    table: "usage_totals" | "usage_cells",
    serverId: number | null,
    bound: UsagePosition | null,
    direction: "forward" | "backward",
    n: number,
    rowOf: RowReader,
  ): PageRow[] {
    const { from, where, params } = this.source(filter, "t", table);
    const conditions = [where];
    if (serverId !== null) {
      conditions.push("t.server_id = ?");
      params.push(serverId);
    }
    if (bound) {
      conditions.push(`(t.rank, t.account) ${direction === "forward" ? ">" : "<"} (?, ?)`);
      params.push(toRank(bound.value ?? 0n), bound.account);
    }
    const order = direction === "forward" ? "t.rank, t.account" : "t.rank DESC, t.account DESC";
    params.push(n);
    if (table === "usage_totals") {
      // The sort value is the total.
      return this.raw<RawRow>(
        `SELECT t.account, hex(t.rank), ${ROW_PARTS} FROM ${from}
         WHERE ${conditions.join(" AND ")} ORDER BY ${order} LIMIT ?`,
        ...params,
      ).map((r) => {
        const row = rowOf(r);
        return { account: row.account, value: row.total, row };
      });
    }
    return this.raw<[string, string | null, string | null, string | null, string]>(
      `SELECT t.account, (SELECT hex(u.rank) FROM usage_totals u WHERE u.metric_id = t.metric_id AND u.account = t.account),
         ${ROW_PARTS}, hex(t.rank) FROM ${from}
       WHERE ${conditions.join(" AND ")} ORDER BY ${order} LIMIT ?`,
      ...params,
    ).map((r) => {
      const row = rowOf(r);
      return { account: row.account, value: fromRankHex(r[4]), row };
    });
  }

  /** Accounts by id; with `withoutServer`, only those with no cell on that server (the tail of a server sort). */
  private accountSegment(filter: Filter, withoutServer: number | null, rowOf: RowReader): Segment<PageRow> {
    return {
      owns: (p) => p.value === null,
      read: (bound, direction, n) => {
        const { from, where, params } = this.source(filter, "t", "usage_totals");
        const conditions = [where];
        if (withoutServer !== null) {
          conditions.push(
            "NOT EXISTS (SELECT 1 FROM usage_cells c WHERE c.metric_id = t.metric_id AND c.account = t.account AND c.server_id = ?)",
          );
          params.push(withoutServer);
        }
        if (bound) {
          conditions.push(`t.account ${direction === "forward" ? ">" : "<"} ?`);
          params.push(bound.account);
        }
        params.push(n);
        return this.raw<RawRow>(
          `SELECT t.account, hex(t.rank), ${ROW_PARTS} FROM ${from} WHERE ${conditions.join(" AND ")}
           ORDER BY t.account${direction === "forward" ? "" : " DESC"} LIMIT ?`,
          ...params,
        ).map((r) => ({ account: r[0], value: null, row: rowOf(r) }));
      },
    };
  }

  /**
   * The table at a past time, to the hour: each level series' value at the start of the hour holding `at`,
   * which is the `last` of its latest rollup before that hour.
   */
  private async history(query: UsageTableQuery, at: number): Promise<UsageTablePage> {
    const hour = hourOf(at);
    const subset = query.accounts ? JSON.stringify(sortedUnique(query.accounts)) : null;
    const rows = this.all<{ account: string; server: string; value: DbNumber }>(
      `SELECT s.account, v.name AS server,
         (SELECT r.last FROM rollups r WHERE r.series_id = s.id AND r.hour < ? ORDER BY r.hour DESC LIMIT 1) AS value
       FROM series s JOIN servers v ON v.id = s.server_id
       WHERE s.metric = ? AND s.kind = 'level'${subset === null ? "" : " AND s.account IN (SELECT value FROM json_each(?))"}`,
      hour,
      query.metric,
      ...(subset === null ? [] : [subset]),
    );
    const cells: HistoryCell[] = [];
    for (const r of rows)
      if (r.value !== null) cells.push({ account: r.account, server: r.server, value: toBig(r.value) });
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
}

function sortRecord(record: Record<string, bigint>): Record<string, bigint> {
  return Object.fromEntries(sortedUnique(Object.keys(record)).map((k) => [k, record[k] as bigint]));
}

/** One page row as its segment read it: the key it is ordered by, and the row. */
interface PageRow extends Keyed {
  readonly row: UsageTableRow;
}

/** account, hex(total rank), the cells and the petname (ROW_PARTS), then anything a segment reads besides. */
type RawRow = readonly [string, string | null, string | null, string | null, ...unknown[]];
type RowReader = (raw: RawRow) => UsageTableRow;

/**
 * The rest of a row beside its key, read in the statement that finds the key (one pass over the index, no second
 * lookup of the page's accounts): the account's cells as `id,id,… hex,hex,…` (two aggregates over the same rows
 * keep the same order; cheaper than one text per cell), and its petname.
 */
const ROW_PARTS = `(SELECT group_concat(c.server_id) || ' ' || group_concat(hex(c.rank)) FROM usage_cells c
     WHERE c.metric_id = t.metric_id AND c.account = t.account),
   (SELECT p.name FROM petnames p WHERE p.account = t.account)`;

/** Decodes raw rows into table rows with cells for the given columns only, in column order. */
function rowReader(columns: readonly [number, string][]): RowReader {
  const ids = columns.map(([id, name]) => [String(id), name] as const);
  return ([account, totalHex, cells, petname]) => {
    const byServer: Record<string, bigint> = {};
    if (cells !== null) {
      const space = cells.indexOf(" ");
      const found = cells.slice(0, space).split(",");
      const ranks = cells.slice(space + 1).split(",");
      for (const [id, name] of ids) {
        const i = found.indexOf(id);
        if (i >= 0) byServer[name] = fromRankHex(ranks[i] as string);
      }
    }
    return { account, petname, byServer, total: totalHex === null ? 0n : fromRankHex(totalHex) };
  };
}
