// The usage table on PostgreSQL: current level totals per (metric, account) and cells per (metric, account,
// server), kept up to date by a statement trigger on `series` (usage-table-migrations.ts) and paged by key over
// expression indexes.
//
// Each page is read in one REPEATABLE READ transaction, so that its rows, totals and columns agree; a page that
// others follow also gives out its snapshot, and the pages read with it show the table as of that snapshot, from
// the rows that have not moved since and the log's copies of those that have (usage-snapshots.ts).

import type pg from "pg";
import { hourOf } from "../../domain/time.js";
import {
  type HistoryCell,
  type Keyed,
  likePattern,
  mergeInOrder,
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
import { type PageStart, pageStart, type Snapshot, START_PAGE, UsageSnapshots } from "./usage-snapshots.js";
import {
  type Filter,
  Params,
  type RawRow,
  rowOf,
  rowParts,
  searched,
  sinceSnapshot,
  unmoved,
} from "./usage-table-sql.js";

/** What the segments of one page share: its transaction, filter and columns, and the snapshot it is read at. */
interface Reader {
  readonly client: pg.ClientBase;
  readonly filter: Filter;
  readonly columns: readonly string[];
  /** A later page's snapshot, or null for the table as the page's own transaction sees it. */
  readonly at: Snapshot | null;
  /**
   * At a snapshot: the selected accounts that moved since, as they were at it, with their cells (read once per
   * page, for the sorts and totals that need the cells of every one).
   */
  readonly moved: (() => Promise<RawRow[]>) | null;
}

/** UsageStore.usageTable on PostgreSQL: shares the usage store's pool. */
export class PostgresUsageTable {
  readonly snapshots: UsageSnapshots;
  private readonly searchListed: number;

  constructor(
    private readonly pool: pg.Pool,
    options: {
      readonly inlineTokenLimit?: number;
      /** Series or petnames a search lists at most before it reads the table in its order instead. */
      readonly searchListed?: number;
    } = {},
  ) {
    this.snapshots = new UsageSnapshots(pool, options);
    this.searchListed = options.searchListed ?? SEARCH_LISTED;
  }

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    return query.at === undefined ? this.current(query) : this.history(query, query.at);
  }

  /** The table now, or at the snapshot the query names, in a read-only transaction of its own. */
  private async current(query: UsageTableQuery): Promise<UsageTablePage> {
    const token = query.snapshot === undefined ? null : this.snapshots.parse(query.snapshot);
    const client = await this.pool.connect();
    let broken: Error | undefined;
    let start: PageStart;
    let page: UsageTablePage;
    try {
      const results = (await client.query(START_PAGE)) as unknown as pg.QueryResult[];
      start = pageStart(results[1]?.rows[0]);
      const at = token === null ? null : await this.snapshots.resolve(client, token, start);
      page = await this.page(client, query, at);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw error;
    } finally {
      client.release(broken);
    }
    if (token !== null) return { ...page, snapshot: query.snapshot };
    // Pages follow: they read at this page's snapshot.
    if (page.more || query.after !== undefined || query.before !== undefined) {
      return { ...page, snapshot: await this.snapshots.token(start) };
    }
    return page;
  }

  private async page(client: pg.ClientBase, query: UsageTableQuery, at: Snapshot | null): Promise<UsageTablePage> {
    const like = query.search === undefined ? null : likePattern(query.search);
    let subset = query.accounts ? sortedUnique(query.accounts) : null;
    if (subset === null && like !== null && TRIGRAMS.test(query.search as string)) {
      subset = await searchedAccounts(client, like, this.searchListed);
    }
    const filter: Filter = { metric: query.metric, subset, like };
    const serverTotals = await this.serverTotals(client, query.metric, at);
    const columns = sortedUnique(query.servers ?? [...serverTotals.keys()]);
    const read: Reader = {
      client,
      filter,
      columns,
      at,
      moved: at === null ? null : once(() => this.moved(client, filter, at, null)),
    };
    const indexes: UsageTableIndexes<PageRow> = {
      byTotal: () => this.rankedSegment(read, null),
      byCell: (server) => this.rankedSegment(read, server),
      byAccount: (withoutServer) => this.accountSegment(read, withoutServer),
      selectionTotals: () => this.selectionTotals(read),
    };
    return readUsagePage(query, indexes, (keys) => this.complete(read, keys), serverTotals, columns);
  }

  /**
   * Each server's total: the sum of its shards, now or at the snapshot, where a shard that moved since holds its
   * first copy after it (none: the shard did not exist then).
   */
  private async serverTotals(client: pg.ClientBase, metric: string, at: Snapshot | null): Promise<Map<string, bigint>> {
    const p = new Params();
    const m = p.add(metric);
    let sql: string;
    if (at === null) {
      sql = `SELECT server, sum(total)::text AS total FROM usage_server_totals WHERE metric = ${m} GROUP BY server`;
    } else {
      // Each shard's first copy after the snapshot, else the shard as it is. No join of the copies with the
      // shards: the planner cannot tell how many copies a snapshot has, and would loop over them for each shard.
      sql = `WITH shards AS (
          SELECT DISTINCT ON (x.server, x.shard) x.server, x.total FROM (
            SELECT l.server, l.shard, l.total, 0 AS source, l.version FROM usage_server_totals_log l
            WHERE ${sinceSnapshot(p, at, "l")} AND l.metric = ${m}
            UNION ALL
            SELECT t.server, t.shard, t.total, 1, 0 FROM usage_server_totals t WHERE t.metric = ${m}
          ) x ORDER BY x.server, x.shard, x.source, x.version
        )
        SELECT server, sum(total)::text AS total FROM shards WHERE total IS NOT NULL GROUP BY server`;
    }
    const result = await client.query<{ server: string; total: string }>(sql, p.values);
    return new Map(result.rows.map((r) => [r.server, BigInt(r.total)]));
  }

  /** Sums over every selected account: the totals row of a subset or a search. */
  private async selectionTotals(read: Reader): Promise<UsageTablePage["totals"]> {
    const p = new Params();
    let sql: string;
    if (read.filter.subset !== null) {
      const { from, where } = this.source(read.filter, p, "usage_totals");
      const conditions = [where, ...unmoved(read.at, p, "t")];
      sql = `SELECT c.server, sum(c.value)::text AS total FROM ${from}
        JOIN usage_cells c ON c.metric = t.metric AND c.account = t.account
        WHERE ${conditions.join(" AND ")} GROUP BY c.server`;
    } else {
      // A search that may match any number of accounts: its cells in one scan of the cells, without joining the
      // totals, for which the planner, unable to tell how many accounts a pattern matches, picks a hash join over
      // every cell. At a snapshot, the accounts that moved since (their totals logged since) are read from the log.
      const m = p.add(read.filter.metric);
      const conditions = [`c.metric = ${m}`, ...searched(read.filter, p, "c")];
      if (read.at !== null) {
        conditions.push(`c.account NOT IN (SELECT x.account FROM usage_totals_log x
          WHERE ${sinceSnapshot(p, read.at, "x")} AND x.metric = ${m})`);
      }
      sql = `SELECT c.server, sum(c.value)::text AS total FROM usage_cells c WHERE ${conditions.join(" AND ")}
        GROUP BY c.server`;
    }
    const result = await read.client.query<{ server: string; total: string }>(sql, p.values);
    const wanted = new Set(read.columns);
    const byServer: Record<string, bigint> = {};
    let total = 0n;
    const add = (server: string, value: bigint) => {
      if (wanted.has(server)) byServer[server] = (byServer[server] ?? 0n) + value;
    };
    for (const r of result.rows) {
      total += BigInt(r.total);
      add(r.server, BigInt(r.total));
    }
    for (const r of (await read.moved?.()) ?? []) {
      total += BigInt(r.total ?? "0");
      for (const [server, value] of Object.entries(r.cells ?? {})) add(server, BigInt(value));
    }
    return { byServer: sortRecord(byServer), total };
  }

  /** FROM and WHERE for `t` (a table with metric and account columns) under the filter. */
  private source(filter: Filter, p: Params, table: string): { from: string; where: string } {
    const where: string[] = [];
    let from: string;
    if (filter.subset !== null) {
      // The listed accounts drive the join, one index probe each (OFFSET 0 keeps the planner from turning the
      // probes into a hash join over the whole table).
      const subset = p.add(filter.subset);
      const metric = p.add(filter.metric);
      from = `unnest(${subset}::text[]) AS j (account)
        CROSS JOIN LATERAL (SELECT * FROM ${table} x WHERE x.metric = ${metric} AND x.account = j.account OFFSET 0) t`;
    } else {
      from = `${table} t`;
    }
    where.push(`t.metric = ${p.add(filter.metric)}`);
    where.push(...searched(filter, p, "t"));
    return { from, where: where.join(" AND ") };
  }

  /**
   * The selected accounts that moved after the snapshot, as they were at it: their cells, each from its first copy
   * after the snapshot where it moved since, and their totals, the sums of those cells; accounts that had no cell
   * then had no row. Only what changed since the snapshot is read, by the log's index on the writing transaction,
   * and the moved accounts' cells, by key. Copies and cells are merged by sorting them together, not by a join,
   * whose plan would rest on a guess of how many copies there are. Only `accounts`, when given: the rows of a page
   * whose moved accounts were found by key (movedKeys); every one for the server sorts and the selection totals,
   * which need each moved account's cells.
   */
  private async moved(
    client: pg.ClientBase,
    filter: Filter,
    at: Snapshot,
    accounts: readonly string[] | null,
  ): Promise<RawRow[]> {
    const p = new Params();
    const m = p.add(filter.metric);
    const selected = searched(filter, p, "x");
    if (filter.subset !== null) selected.push(`x.account = ANY(${p.add(filter.subset)}::text[])`);
    if (accounts !== null) selected.push(`x.account = ANY(${p.add(accounts)}::text[])`);
    const result = await client.query<RawRow>(
      `WITH copies AS MATERIALIZED (
         SELECT x.account, x.server, x.value, x.version FROM usage_cells_log x
         WHERE ${[sinceSnapshot(p, at, "x"), `x.metric = ${m}`, ...selected].join(" AND ")}
       ), cells AS (
         SELECT DISTINCT ON (x.account, x.server) x.account, x.server, x.value FROM (
           SELECT k.account, k.server, k.value, 0 AS source, k.version FROM copies k
           UNION ALL
           SELECT c.account, c.server, c.value, 1, 0 FROM (SELECT DISTINCT account FROM copies) a
           CROSS JOIN LATERAL (
             SELECT c.account, c.server, c.value FROM usage_cells c WHERE c.metric = ${m} AND c.account = a.account OFFSET 0
           ) c
         ) x ORDER BY x.account, x.server, x.source, x.version
       )
       SELECT x.account, sum(x.value)::text AS total,
         (SELECT p.name FROM petnames p WHERE p.account = x.account) AS petname,
         json_object_agg(x.server, x.value::text) FILTER (WHERE x.value IS NOT NULL) AS cells
       FROM cells x GROUP BY x.account HAVING count(x.value) > 0`,
      p.values,
    );
    return result.rows;
  }

  /**
   * The selected accounts that moved after the snapshot, by their totals as they were at it (each one's first copy
   * after it), in the order of the total or account sort, past `bound`: keys only, from the totals log alone. Their
   * rows are read once the page is known (complete).
   */
  private async movedKeys(
    read: Reader,
    by: "total" | "account",
    bound: UsagePosition | null,
    direction: "forward" | "backward",
    n: number,
  ): Promise<PageRow[]> {
    const p = new Params();
    const m = p.add(read.filter.metric);
    const selected = searched(read.filter, p, "x");
    if (read.filter.subset !== null) selected.push(`x.account = ANY(${p.add(read.filter.subset)}::text[])`);
    const copies = `SELECT DISTINCT ON (x.account) x.account, x.total FROM usage_totals_log x
      WHERE ${[sinceSnapshot(p, read.at as Snapshot, "x"), `x.metric = ${m}`, ...selected].join(" AND ")}
      ORDER BY x.account, x.version`;
    const conditions = ["k.total IS NOT NULL"];
    const op = direction === "forward" ? ">" : "<";
    const desc = direction === "forward" ? "" : " DESC";
    if (bound && by === "total") {
      conditions.push(
        `(-k.total, k.account) ${op} (${p.add((-(bound.value ?? 0n)).toString())}::numeric, ${p.add(bound.account)})`,
      );
    } else if (bound) {
      conditions.push(`k.account ${op} ${p.add(bound.account)}`);
    }
    const order = by === "total" ? `-k.total${desc}, k.account${desc}` : `k.account${desc}`;
    const result = await read.client.query<{ account: string; total: string }>(
      `SELECT k.account, k.total::text AS total FROM (${copies}) k
       WHERE ${conditions.join(" AND ")} ORDER BY ${order} LIMIT ${p.add(n)}`,
      p.values,
    );
    return result.rows.map((r) => ({ account: r.account, value: by === "total" ? BigInt(r.total) : null, row: null }));
  }

  /** The page's rows: those its segments read whole, and the moved accounts found by key, read now. */
  private async complete(read: Reader, keys: readonly PageRow[]): Promise<UsageTableRow[]> {
    const missing = keys.filter((k) => k.row === null).map((k) => k.account);
    if (missing.length === 0 || read.at === null) return keys.map((k) => k.row as UsageTableRow);
    const found = new Map(
      (await this.moved(read.client, read.filter, read.at, missing)).map((r) => [r.account, rowOf(r, read.columns)]),
    );
    return keys.map((k) => k.row ?? (found.get(k.account) as UsageTableRow));
  }

  /** By total (server null) or by the cell on one server: largest first, then account. */
  private rankedSegment(read: Reader, server: string | null): Segment<PageRow> {
    const table = server === null ? "usage_totals" : "usage_cells";
    const value = server === null ? "t.total" : "t.value";
    // The sort value is the total, or the account's total is looked up beside its cell.
    const total =
      server === null
        ? "t.total"
        : "(SELECT u.total FROM usage_totals u WHERE u.metric = t.metric AND u.account = t.account)";
    const segment: Segment<PageRow> = {
      owns: (position) => server === null || position.value !== null,
      read: async (bound, direction, n) => {
        const p = new Params();
        const { from, where } = this.source(read.filter, p, table);
        const conditions = [where];
        if (server !== null) {
          conditions.push(`t.server = ${p.add(server)}`);
          if (read.at !== null) {
            // As `unmoved`, for the cell's account.
            conditions.push(
              `(SELECT pg_visible_in_snapshot(u.changed, ${p.add(read.at.text)}::pg_snapshot) FROM usage_totals u
                WHERE u.metric = t.metric AND u.account = t.account)`,
            );
          }
        } else {
          conditions.push(...unmoved(read.at, p, "t"));
        }
        if (bound) {
          const op = direction === "forward" ? ">" : "<";
          conditions.push(
            `(-${value}, t.account) ${op} (${p.add((-(bound.value ?? 0n)).toString())}::numeric, ${p.add(bound.account)})`,
          );
        }
        const desc = direction === "forward" ? "" : " DESC";
        const result = await read.client.query<RawRow & { value: string }>(
          `SELECT t.account, ${value}::text AS value, ${total}::text AS total, ${rowParts(p, read.columns)}
           FROM ${from} WHERE ${conditions.join(" AND ")}
           ORDER BY -${value}${desc}, t.account${desc} LIMIT ${p.add(n)}`,
          p.values,
        );
        return result.rows.map((r) => {
          const row = rowOf(r, read.columns);
          return { account: r.account, value: server === null ? row.total : BigInt(r.value), row };
        });
      },
    };
    if (server === null) return this.atSnapshot(read, "total", segment);
    const cell = (r: RawRow) => r.cells?.[server];
    const keyOf = (r: RawRow): PageRow => ({
      account: r.account,
      value: BigInt(cell(r) ?? "0"),
      row: rowOf(r, read.columns),
    });
    return withMovedRows(read.moved, keyOf, (r) => cell(r) !== undefined, segment);
  }

  /** By account; with `withoutServer`, only accounts with no cell on that server (the tail of a server sort). */
  private accountSegment(read: Reader, withoutServer: string | null): Segment<PageRow> {
    const segment: Segment<PageRow> = {
      owns: (position: UsagePosition) => position.value === null,
      read: async (bound, direction, n) => {
        const p = new Params();
        const { from, where } = this.source(read.filter, p, "usage_totals");
        const conditions = [where, ...unmoved(read.at, p, "t")];
        if (withoutServer !== null) {
          conditions.push(
            `NOT EXISTS (SELECT 1 FROM usage_cells c WHERE c.metric = t.metric AND c.account = t.account AND c.server = ${p.add(withoutServer)})`,
          );
        }
        if (bound) conditions.push(`t.account ${direction === "forward" ? ">" : "<"} ${p.add(bound.account)}`);
        const result = await read.client.query<RawRow>(
          `SELECT t.account, t.total::text AS total, ${rowParts(p, read.columns)} FROM ${from}
           WHERE ${conditions.join(" AND ")}
           ORDER BY t.account${direction === "forward" ? "" : " DESC"} LIMIT ${p.add(n)}`,
          p.values,
        );
        return result.rows.map((r) => ({ account: r.account, value: null, row: rowOf(r, read.columns) }));
      },
    };
    if (withoutServer === null) return this.atSnapshot(read, "account", segment);
    const keyOf = (r: RawRow): PageRow => ({ account: r.account, value: null, row: rowOf(r, read.columns) });
    return withMovedRows(read.moved, keyOf, (r) => r.cells?.[withoutServer] === undefined, segment);
  }

  /** A total or account segment at a snapshot: its unmoved rows merged with the moved accounts' keys. */
  private atSnapshot(read: Reader, by: "total" | "account", segment: Segment<PageRow>): Segment<PageRow> {
    if (read.at === null) return segment;
    return {
      owns: segment.owns,
      read: async (bound, direction, n) =>
        mergeInOrder(
          await segment.read(bound, direction, n),
          await this.movedKeys(read, by, bound, direction, n),
          direction,
          n,
        ),
    };
  }

  /** The table at the start of the hour holding `at`: each level series' `last` of its latest rollup before it. */
  private async history(query: UsageTableQuery, at: number): Promise<UsageTablePage> {
    const subset = query.accounts ? sortedUnique(query.accounts) : null;
    const result = await this.pool.query<{ account: string; server: string; value: string }>(
      `SELECT s.account, s.server, r.last AS value FROM series s
       CROSS JOIN LATERAL (
         SELECT r.last FROM rollups r WHERE r.series_id = s.id AND r.hour < $1 ORDER BY r.hour DESC LIMIT 1
       ) r
       WHERE s.metric = $2 AND s.kind = 'level' AND ($3::text[] IS NULL OR s.account = ANY($3::text[]))`,
      [hourOf(at), query.metric, subset],
    );
    const cells: HistoryCell[] = result.rows.map((r) => ({
      account: r.account,
      server: r.server,
      value: BigInt(r.value),
    }));
    const named =
      query.search === undefined
        ? await this.pool.query<{ account: string; name: string }>(
            "SELECT account, name FROM petnames WHERE account = ANY($1::text[])",
            [[...new Set(cells.map((c) => c.account))]],
          )
        : await this.pool.query<{ account: string; name: string }>("SELECT account, name FROM petnames");
    return pageInMemory(cells, new Map(named.rows.map((r) => [r.account, r.name])), query);
  }
}

const SEARCH_LISTED = 20_000;

/**
 * A search the trigram indexes can narrow: one with three letters or digits in a row. A shorter one would read
 * every series to list its matches, more than the table's walk reads.
 */
const TRIGRAMS = /[\p{L}\p{N}]{3}/u;

/**
 * The accounts whose id or petname contains the search, found by the trigram indexes, when they are few: the page
 * then reads them as a subset, one probe each, instead of testing every account's id. Null when `listed` series or
 * petnames match: the page walks the table in its order, testing each row, which soon finds a page of matches when
 * there are that many, where a list would probe each one.
 */
async function searchedAccounts(client: pg.ClientBase, like: string, listed: number): Promise<string[] | null> {
  const result = await client.query<{ petname: boolean; account: string }>(
    // On the expression of the trigram index (usage-table-migrations.ts).
    `(SELECT false AS petname, account FROM series WHERE (account || '') ILIKE $1 LIMIT $2)
     UNION ALL (SELECT true, account FROM petnames WHERE name ILIKE $1 LIMIT $2)`,
    [like, listed],
  );
  const named = result.rows.filter((r) => r.petname).length;
  if (named === listed || result.rows.length - named === listed) return null;
  return sortedUnique(result.rows.map((r) => r.account));
}

/** One page row as its segment read it: the key it is ordered by, and the row (null: read once the page is known). */
interface PageRow extends Keyed {
  readonly row: UsageTableRow | null;
}
