// The usage table on PostgreSQL: current level totals per (metric, account) and cells per (metric, account,
// server), kept up to date by a statement trigger on `series` and paged by key over expression indexes.
//
// The trigger sees every row an UPDATE of series changed (transition tables), sums the differences of the
// levels' latest values, and applies them in key order, so concurrent batches on several nodes lock the view's
// rows in one global order and never deadlock. Per-server totals are split over a few shards (one per backend,
// modulo 8) so that nodes ingesting for the same server do not queue on one row.

import type pg from "pg";
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
import type { Migration } from "./migrations.js";

export const USAGE_VIEW_MIGRATIONS: readonly Migration[] = [
  {
    version: 100,
    sql: `
      CREATE TABLE usage_cells (
        metric text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        server text COLLATE "C" NOT NULL,
        value numeric NOT NULL,
        PRIMARY KEY (metric, account, server)
      );
      CREATE INDEX usage_cells_by_server ON usage_cells (metric, server, (-value), account);
      CREATE TABLE usage_totals (
        metric text COLLATE "C" NOT NULL,
        account text COLLATE "C" NOT NULL,
        total numeric NOT NULL,
        PRIMARY KEY (metric, account)
      );
      CREATE INDEX usage_totals_by_total ON usage_totals (metric, (-total), account);
      CREATE TABLE usage_server_totals (
        metric text COLLATE "C" NOT NULL,
        server text COLLATE "C" NOT NULL,
        shard smallint NOT NULL,
        total numeric NOT NULL,
        PRIMARY KEY (metric, server, shard)
      );

      CREATE FUNCTION usage_view_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO usage_cells AS u (metric, account, server, value)
          SELECT n.metric, n.account, n.server, sum(coalesce(n.last_value, 0) - coalesce(o.last_value, 0))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          GROUP BY n.metric, n.account, n.server ORDER BY n.metric, n.account, n.server
          ON CONFLICT (metric, account, server) DO UPDATE SET value = u.value + excluded.value;
        IF NOT FOUND THEN
          RETURN NULL;
        END IF;
        INSERT INTO usage_totals AS u (metric, account, total)
          SELECT n.metric, n.account, sum(coalesce(n.last_value, 0) - coalesce(o.last_value, 0))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          GROUP BY n.metric, n.account ORDER BY n.metric, n.account
          ON CONFLICT (metric, account) DO UPDATE SET total = u.total + excluded.total;
        INSERT INTO usage_server_totals AS u (metric, server, shard, total)
          SELECT n.metric, n.server, pg_backend_pid() % 8, sum(coalesce(n.last_value, 0) - coalesce(o.last_value, 0))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          GROUP BY n.metric, n.server ORDER BY n.metric, n.server
          ON CONFLICT (metric, server, shard) DO UPDATE SET total = u.total + excluded.total;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER usage_view_level AFTER UPDATE ON series
        REFERENCING OLD TABLE AS old_series NEW TABLE AS new_series
        FOR EACH STATEMENT EXECUTE FUNCTION usage_view_apply();

      -- A store that had levels before this migration: derive the view from their latest values once.
      INSERT INTO usage_cells (metric, account, server, value)
        SELECT metric, account, server, sum(last_value) FROM series
        WHERE kind = 'level' AND last_value IS NOT NULL GROUP BY metric, account, server;
      INSERT INTO usage_totals (metric, account, total)
        SELECT metric, account, sum(value) FROM usage_cells GROUP BY metric, account;
      INSERT INTO usage_server_totals (metric, server, shard, total)
        SELECT metric, server, 0, sum(value) FROM usage_cells GROUP BY metric, server;
    `,
  },
  {
    // Series inserted with a value, or deleted, move the view too: the adapter does neither today, but a rebuild
    // or repair that did would otherwise leave the view behind without a sound. One function applies every
    // change, so every path locks the view's rows in the same order.
    version: 102,
    sql: `
      CREATE FUNCTION usage_view_add(m text[], a text[], s text[], d numeric[]) RETURNS void LANGUAGE sql AS $fn$
        INSERT INTO usage_cells AS u (metric, account, server, value)
          SELECT x.metric, x.account, x.server, sum(x.delta) FROM unnest(m, a, s, d) AS x (metric, account, server, delta)
          GROUP BY 1, 2, 3 ORDER BY x.metric COLLATE "C", x.account COLLATE "C", x.server COLLATE "C"
          ON CONFLICT (metric, account, server) DO UPDATE SET value = u.value + excluded.value;
        INSERT INTO usage_totals AS u (metric, account, total)
          SELECT x.metric, x.account, sum(x.delta) FROM unnest(m, a, d) AS x (metric, account, delta)
          GROUP BY 1, 2 ORDER BY x.metric COLLATE "C", x.account COLLATE "C"
          ON CONFLICT (metric, account) DO UPDATE SET total = u.total + excluded.total;
        INSERT INTO usage_server_totals AS u (metric, server, shard, total)
          SELECT x.metric, x.server, pg_backend_pid() % 8, sum(x.delta) FROM unnest(m, s, d) AS x (metric, server, delta)
          GROUP BY 1, 2 ORDER BY x.metric COLLATE "C", x.server COLLATE "C"
          ON CONFLICT (metric, server, shard) DO UPDATE SET total = u.total + excluded.total;
      $fn$;

      CREATE OR REPLACE FUNCTION usage_view_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          PERFORM usage_view_add(array_agg(n.metric), array_agg(n.account), array_agg(n.server),
                                 array_agg(coalesce(n.last_value, 0) - coalesce(o.last_value, 0)))
          FROM new_series n JOIN old_series o ON o.id = n.id
          WHERE n.kind = 'level' AND n.last_value IS DISTINCT FROM o.last_value
          HAVING count(*) > 0;
        ELSIF TG_OP = 'INSERT' THEN
          PERFORM usage_view_add(array_agg(n.metric), array_agg(n.account), array_agg(n.server), array_agg(n.last_value))
          FROM new_series n WHERE n.kind = 'level' AND n.last_value IS NOT NULL
          HAVING count(*) > 0;
        ELSE
          PERFORM usage_view_add(array_agg(o.metric), array_agg(o.account), array_agg(o.server), array_agg(-o.last_value))
          FROM old_series o WHERE o.kind = 'level' AND o.last_value IS NOT NULL
          HAVING count(*) > 0;
        END IF;
        RETURN NULL;
      END
      $fn$;
      CREATE TRIGGER usage_view_level_insert AFTER INSERT ON series
        REFERENCING NEW TABLE AS new_series
        FOR EACH STATEMENT EXECUTE FUNCTION usage_view_apply();
      CREATE TRIGGER usage_view_level_delete AFTER DELETE ON series
        REFERENCING OLD TABLE AS old_series
        FOR EACH STATEMENT EXECUTE FUNCTION usage_view_apply();
    `,
  },
];

/** Builds a parameter list: each call adds a value and returns its $n placeholder. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

interface Filter {
  readonly metric: string;
  readonly subset: string[] | null;
  readonly like: string | null;
}

/** UsageStore.usageTable on PostgreSQL: shares the usage store's pool. */
export class PostgresUsageTable {
  constructor(private readonly pool: pg.Pool) {}

  async usageTable(query: UsageTableQuery): Promise<UsageTablePage> {
    return query.at === undefined ? this.current(query) : this.history(query, query.at);
  }

  private async current(query: UsageTableQuery): Promise<UsageTablePage> {
    const serverTotals = new Map(
      (
        await this.pool.query<{ server: string; total: string }>(
          "SELECT server, sum(total) AS total FROM usage_server_totals WHERE metric = $1 GROUP BY server",
          [query.metric],
        )
      ).rows.map((r) => [r.server, BigInt(r.total)]),
    );
    const columns = sortedUnique(query.servers ?? [...serverTotals.keys()]);
    const filter: Filter = {
      metric: query.metric,
      subset: query.accounts ? sortedUnique(query.accounts) : null,
      like: query.search === undefined ? null : likePattern(query.search),
    };
    let segments: Segment<PageRow>[];
    if (query.sort.by === "server") {
      const server = query.sort.server;
      segments = [this.rankedSegment(filter, server, columns), this.accountSegment(filter, server, columns)];
    } else if (query.sort.by === "account") {
      segments = [this.accountSegment(filter, null, columns)];
    } else {
      segments = [this.rankedSegment(filter, null, columns)];
    }
    const { keys, more } = await readSegments(segments, query);
    const rows = keys.map((k) => k.row);
    let totals: UsageTablePage["totals"];
    if (filter.subset === null && filter.like === null) {
      totals = wholeTableTotals(serverTotals, columns);
    } else if (!more && query.after === undefined && query.before === undefined) {
      totals = pageTotals(rows, columns);
    } else {
      totals = await this.selectionTotals(filter, columns);
    }
    return { rows, servers: columns, totals, more };
  }

  private async selectionTotals(filter: Filter, columns: readonly string[]): Promise<UsageTablePage["totals"]> {
    const p = new Params();
    const { from, where } = this.source(filter, p, "usage_totals");
    const result = await this.pool.query<{ server: string; total: string }>(
      `SELECT c.server, sum(c.value) AS total FROM ${from}
       JOIN usage_cells c ON c.metric = t.metric AND c.account = t.account WHERE ${where} GROUP BY c.server`,
      p.values,
    );
    const wanted = new Set(columns);
    const byServer: Record<string, bigint> = {};
    let total = 0n;
    for (const r of result.rows) {
      total += BigInt(r.total);
      if (wanted.has(r.server)) byServer[r.server] = BigInt(r.total);
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
    if (filter.like !== null) {
      const like = p.add(filter.like);
      where.push(`(t.account ILIKE ${like} OR t.account IN (SELECT account FROM petnames WHERE name ILIKE ${like}))`);
    }
    return { from, where: where.join(" AND ") };
  }

  /** By total (server null) or by the cell on one server: largest first, then account. */
  private rankedSegment(filter: Filter, server: string | null, columns: readonly string[]): Segment<PageRow> {
    const table = server === null ? "usage_totals" : "usage_cells";
    const value = server === null ? "t.total" : "t.value";
    // The sort value is the total, or the account's total is looked up beside its cell.
    const total =
      server === null
        ? "t.total"
        : "(SELECT u.total FROM usage_totals u WHERE u.metric = t.metric AND u.account = t.account)";
    return {
      owns: (position) => server === null || position.value !== null,
      read: async (bound, direction, n) => {
        const p = new Params();
        const { from, where } = this.source(filter, p, table);
        const conditions = [where];
        if (server !== null) conditions.push(`t.server = ${p.add(server)}`);
        if (bound) {
          const op = direction === "forward" ? ">" : "<";
          conditions.push(
            `(-${value}, t.account) ${op} (${p.add((-(bound.value ?? 0n)).toString())}::numeric, ${p.add(bound.account)})`,
          );
        }
        const desc = direction === "forward" ? "" : " DESC";
        const result = await this.pool.query<RawRow & { value: string }>(
          `SELECT t.account, ${value}::text AS value, ${total}::text AS total, ${rowParts(p, columns)}
           FROM ${from} WHERE ${conditions.join(" AND ")}
           ORDER BY -${value}${desc}, t.account${desc} LIMIT ${p.add(n)}`,
          p.values,
        );
        return result.rows.map((r) => {
          const row = rowOf(r, columns);
          return { account: r.account, value: server === null ? row.total : BigInt(r.value), row };
        });
      },
    };
  }

  /** By account; with `withoutServer`, only accounts with no cell on that server (the tail of a server sort). */
  private accountSegment(filter: Filter, withoutServer: string | null, columns: readonly string[]): Segment<PageRow> {
    return {
      owns: (position: UsagePosition) => position.value === null,
      read: async (bound, direction, n) => {
        const p = new Params();
        const { from, where } = this.source(filter, p, "usage_totals");
        const conditions = [where];
        if (withoutServer !== null) {
          conditions.push(
            `NOT EXISTS (SELECT 1 FROM usage_cells c WHERE c.metric = t.metric AND c.account = t.account AND c.server = ${p.add(withoutServer)})`,
          );
        }
        if (bound) conditions.push(`t.account ${direction === "forward" ? ">" : "<"} ${p.add(bound.account)}`);
        const result = await this.pool.query<RawRow>(
          `SELECT t.account, t.total::text AS total, ${rowParts(p, columns)} FROM ${from}
           WHERE ${conditions.join(" AND ")}
           ORDER BY t.account${direction === "forward" ? "" : " DESC"} LIMIT ${p.add(n)}`,
          p.values,
        );
        return result.rows.map((r) => ({ account: r.account, value: null, row: rowOf(r, columns) }));
      },
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

function sortRecord(record: Record<string, bigint>): Record<string, bigint> {
  return Object.fromEntries(sortedUnique(Object.keys(record)).map((k) => [k, record[k] as bigint]));
}

/** One page row as its segment read it: the key it is ordered by, and the row. */
interface PageRow extends Keyed {
  readonly row: UsageTableRow;
}

interface RawRow {
  account: string;
  total: string | null;
  petname: string | null;
  cells: Record<string, string> | null;
}

/**
 * The rest of a row beside its key, read in the statement that finds the key: a second statement over the
 * page's accounts (unnest, then a probe each) costs as much again. Correlated subqueries keep each lookup an
 * index probe.
 */
function rowParts(p: Params, columns: readonly string[]): string {
  return `(SELECT p.name FROM petnames p WHERE p.account = t.account) AS petname,
    (SELECT json_object_agg(c.server, c.value::text) FROM usage_cells c
     WHERE c.metric = t.metric AND c.account = t.account AND c.server = ANY(${p.add(columns)}::text[])) AS cells`;
}

function rowOf(r: RawRow, columns: readonly string[]): UsageTableRow {
  const byServer: Record<string, bigint> = {};
  for (const server of columns) {
    const v = r.cells?.[server];
    if (v !== undefined) byServer[server] = BigInt(v);
  }
  return { account: r.account, petname: r.petname, byServer, total: r.total === null ? 0n : BigInt(r.total) };
}
