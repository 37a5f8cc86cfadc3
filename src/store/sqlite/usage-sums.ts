// The usage table's cells, account totals and server totals in the derived database, moved by the changes of
// series' latest levels. The changes are held between writes, by series id, and summed into their cells when the
// table is written (before a read, on close, or once they are many; derived-state.ts decides when).

import type Database from "better-sqlite3";
import { compareUtf8 } from "../../domain/rollup.js";
import { LATEST_READING } from "./migrations.js";
import { RowWriter } from "./row-writer.js";
import { formatCells, fromRank, parseCells, toRank } from "./usage-ranks.js";
import type { UsageSnapshots } from "./usage-snapshots.js";
import { big, num } from "./values.js";

interface LevelDelta {
  readonly metric: string;
  readonly account: string;
  readonly serverId: number;
  delta: bigint;
}

export class UsageSums {
  /**
   * Changes of the latest level per series since the usage table was last written (its cells and sums), summed
   * into the cells of their (metric, account, server) when it is: kept across the writes of the rest until a read,
   * close, or usageFlushChanges of them. By series id, a number, as no string need be built for every reading.
   */
  private changes = new Map<number, LevelDelta>();
  private readonly sql;

  constructor(
    private readonly db: Database.Database,
    private readonly snapshots: UsageSnapshots,
  ) {
    this.sql = {
      usageMetric: db.prepare("INSERT INTO usage_metrics (name) VALUES (?) ON CONFLICT (name) DO NOTHING"),
      usageMetricId: db.prepare("SELECT id FROM usage_metrics WHERE name = ?").pluck(),
      totalsOf: db
        .prepare(
          "SELECT t.account, t.rank, t.cells FROM json_each(?) j CROSS JOIN usage_totals t ON t.metric_id = ? AND t.account = j.value",
        )
        .raw(),
      setCell: new RowWriter(
        db,
        "INSERT INTO usage_cells (metric_id, account, server_id, rank)",
        4,
        "ON CONFLICT (metric_id, account, server_id) DO UPDATE SET rank = excluded.rank",
      ),
      setTotal: new RowWriter(
        db,
        "INSERT INTO usage_totals (metric_id, account, rank, cells, changed)",
        5,
        `ON CONFLICT (metric_id, account) DO UPDATE SET rank = excluded.rank, cells = excluded.cells,
           changed = excluded.changed`,
      ),
      logTotal: new RowWriter(db, "INSERT INTO usage_log (metric_id, seq, account, rank, cells)", 5),
      serverTotalsOf: db.prepare("SELECT server_id, rank FROM usage_server_totals WHERE metric_id = ?").raw(),
      setServerTotal: new RowWriter(
        db,
        "INSERT INTO usage_server_totals (metric_id, server_id, rank)",
        3,
        "ON CONFLICT (metric_id, server_id) DO UPDATE SET rank = excluded.rank",
      ),
      logServerTotal: new RowWriter(db, "INSERT INTO usage_server_log (metric_id, seq, server_id, rank)", 4),
      latestLevels: db
        .prepare(
          `SELECT s.id, s.metric, s.account, s.server_id, r.value FROM series s ${LATEST_READING}
           WHERE s.kind = 'level'`,
        )
        .raw(),
    };
  }

  /** Series whose level changes are held. */
  get size(): number {
    return this.changes.size;
  }

  move(seriesId: number, metric: string, account: string, serverId: number, delta: bigint): void {
    const known = this.changes.get(seriesId);
    if (known) known.delta += delta;
    else this.changes.set(seriesId, { metric, account, serverId, delta });
  }

  /** Forgets the changes held, once written. */
  forget(): void {
    this.changes = new Map();
  }

  /** Forgets the changes held and any rows a failed write left in the writers. */
  discard(): void {
    for (const writer of Object.values(this.sql)) if (writer instanceof RowWriter) writer.clear();
    this.changes = new Map();
  }

  /** Empties the usage table, and forgets its snapshots (the rows they would read are gone). */
  clear(): void {
    this.db.exec("DELETE FROM usage_cells; DELETE FROM usage_totals; DELETE FROM usage_server_totals");
    this.snapshots.reset();
  }

  /**
   * The usage table again from the latest level of every series on disk. Snapshots of the table being paged are
   * forgotten: their pages are refused, and their readers start again. The changes held stay held, for after it.
   */
  recompute(seq: number): void {
    const held = this.changes;
    this.changes = new Map();
    this.clear();
    for (const [id, metric, account, serverId, value] of this.sql.latestLevels.iterate() as IterableIterator<
      [bigint, string, string, bigint, unknown]
    >) {
      this.move(num(id), metric, account, num(serverId), big(value));
    }
    this.write(seq);
    this.changes = held;
  }

  /**
   * The usage table's cells, account totals (with each account's cells beside them) and server totals, moved by
   * the changes of latest levels. The changed accounts' totals rows, and the server totals, are read in one
   * statement each per metric; the accounts' cells give each cell's old value, so the new rows are computed here
   * and written without SQL callbacks. While snapshots are read, each totals row is copied as it was before it
   * moves (usage-snapshots.ts).
   */
  write(seq: number): void {
    if (this.changes.size === 0) return;
    const logging = this.snapshots.logging();
    /** Per metric, per account: the changes of its cells, by server id. */
    const changes = new Map<string, Map<string, Map<number, bigint>>>();
    for (const d of this.changes.values()) {
      const accounts = changes.get(d.metric) ?? new Map<string, Map<number, bigint>>();
      changes.set(d.metric, accounts);
      const cells = accounts.get(d.account) ?? new Map<number, bigint>();
      accounts.set(d.account, cells);
      cells.set(d.serverId, (cells.get(d.serverId) ?? 0n) + d.delta);
    }
    const { setCell, setTotal, logTotal, setServerTotal, logServerTotal } = this.sql;
    for (const metric of [...changes.keys()].sort(compareUtf8)) {
      this.sql.usageMetric.run(metric);
      const metricId = this.sql.usageMetricId.get(metric) as bigint;
      const serverChanges = new Map<number, bigint>();
      const byAccount = changes.get(metric) as Map<string, Map<number, bigint>>;
      const accounts = [...byAccount.keys()].sort(compareUtf8);
      const before = new Map<string, [Uint8Array, string]>();
      for (const [account, rank, cells] of this.sql.totalsOf.all(JSON.stringify(accounts), metricId) as [
        string,
        Uint8Array,
        string,
      ][]) {
        before.set(account, [rank, cells]);
      }
      for (const account of accounts) {
        const old = before.get(account);
        if (logging) logTotal.row(metricId, seq, account, old?.[0] ?? null, old?.[1] ?? null);
        const cells = old ? parseCells(old[1]) : new Map<number, bigint>();
        let total = old ? fromRank(old[0]) : 0n;
        for (const [serverId, delta] of byAccount.get(account) as Map<number, bigint>) {
          const value = (cells.get(serverId) ?? 0n) + delta;
          cells.set(serverId, value);
          total += delta;
          setCell.row(metricId, account, serverId, toRank(value));
          serverChanges.set(serverId, (serverChanges.get(serverId) ?? 0n) + delta);
        }
        setTotal.row(metricId, account, toRank(total), formatCells(cells), seq);
      }
      const servers = new Map<number, Uint8Array>();
      for (const [serverId, rank] of this.sql.serverTotalsOf.all(metricId) as [bigint, Uint8Array][]) {
        servers.set(num(serverId), rank);
      }
      for (const serverId of [...serverChanges.keys()].sort((a, b) => a - b)) {
        const old = servers.get(serverId) ?? null;
        if (logging) logServerTotal.row(metricId, seq, serverId, old);
        const total = (old ? fromRank(old) : 0n) + (serverChanges.get(serverId) as bigint);
        setServerTotal.row(metricId, serverId, toRank(total));
      }
    }
    setCell.end();
    setTotal.end();
    logTotal.end();
    setServerTotal.end();
    logServerTotal.end();
  }
}
