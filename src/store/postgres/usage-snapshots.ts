// Snapshots of the usage table on PostgreSQL, so that paging through it while events arrive, on any node, returns
// every account exactly once, with the values it had when the first page was read.
//
// A snapshot is a PostgreSQL snapshot (pg_current_snapshot), taken by the first page's own REPEATABLE READ
// transaction: that page is the table exactly as of it. Every write of the view (usage_view_add, usage-table.ts)
// stamps each account's totals row with its transaction (`changed`) and copies each total, cell and server total
// it overwrites into a log, with its transaction and the row's version, counted up under the row lock: for one
// row, the versions follow its writers, and the writers a snapshot sees come first (a later writer locked the row
// only once the earlier had committed). A later page, in a REPEATABLE READ transaction of its own, reads the
// accounts whose `changed` the snapshot sees as they are (a write of a cell writes its account's total too), and
// each other row from its first copy after the snapshot, the value before the first writer the snapshot does not
// see: its value at the snapshot (no value: the row did not exist then).
//
// The log is always on: any node may write while any other pages, and a writer that decided not to log could not
// know that a snapshot taken on another node will need its copies. Copies are cut an hour (and a margin) after
// they may last be needed: about once a minute, `usage_log_marks` records the oldest transaction still running (a
// snapshot's xmin). Such ids only grow, so a snapshot taken after a mark sees every transaction before the mark's,
// and never needs their copies; once a mark is older than any snapshot that may still be paged, they go.
// `usage_log_horizon` keeps how far the log was cut: a snapshot whose xmin is below it, or that is over an hour
// old, is refused as GONE.

import type pg from "pg";
import { AppError, validation } from "../../domain/errors.js";

/** How long a snapshot can be paged after its first page, as on SQLite. */
export const SNAPSHOT_TTL_MS = 3_600_000;
/** Copies are kept this much longer than the snapshots that may need them. */
const LOG_MARGIN_MS = 300_000;
/** Each node cuts the log at most this often. */
const PRUNE_EVERY_MS = 60_000;
/** Held by the node cutting the log, tried by the others: a first key beside those in migrations.ts. */
const LOCK_USAGE_LOG = 0x7a11_0003;
/** Tokens travel in cursors, which allow 200 characters; a snapshot too long for that is kept in a table. */
const INLINE_TOKEN_LIMIT = 200;

/**
 * After the migrations commit, on every open; only the first sets the horizon. A writer that started usage_view_add
 * before the migration committed may still be running the version that does not log: it holds its lock on `series`
 * (whose triggers call usage_view_add) until it ends, so once that lock is ours every snapshot taken from then on
 * sees it. The horizon is then the xmin, not the xmax: an unrelated transaction left open keeps every later
 * snapshot's xmin below the xmax, and each would be refused as GONE until it ended.
 */
export async function openUsageLog(client: pg.ClientBase): Promise<void> {
  const horizon = await client.query<{ cut: string | null }>("SELECT cut::text FROM usage_log_horizon");
  if (horizon.rows[0]?.cut !== null) return;
  await client.query("BEGIN");
  try {
    await client.query("LOCK TABLE series IN SHARE MODE");
    await client.query("UPDATE usage_log_horizon SET cut = pg_snapshot_xmin(pg_current_snapshot()) WHERE cut IS NULL");
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** A snapshot a later page reads at. */
export interface Snapshot {
  /** As pg_snapshot reads it: xmin:xmax:xip,… */
  readonly text: string;
  readonly xmin: bigint;
  /** When its first page was read, epoch ms on the database's clock. */
  readonly taken: number;
}

/** A snapshot as its token names it: inline, or the id it is kept under. */
type Token = { readonly inline: Snapshot } | { readonly id: bigint };

/** What a page's transaction starts with: its own snapshot, the database's time, and how far the log was cut. */
export interface PageStart {
  readonly snapshot: string;
  readonly now: number;
  readonly horizon: bigint | null;
}

export const START_PAGE = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
  SELECT pg_current_snapshot()::text AS snapshot, (extract(epoch FROM now()) * 1000)::bigint::text AS now,
    (SELECT cut FROM usage_log_horizon)::text AS horizon`;

export function pageStart(row: { snapshot: string; now: string; horizon: string | null }): PageStart {
  return { snapshot: row.snapshot, now: Number(row.now), horizon: row.horizon === null ? null : BigInt(row.horizon) };
}

/**
 * The token of a snapshot: `s.` then, in hex, the time it was taken, xmin, xmax − xmin and each running
 * transaction − xmin, dot-separated; or `r.` and the id it is kept under when that is too long for a cursor.
 */
export function snapshotToken(snapshot: string, taken: number): string {
  const [xmin, xmax, xip] = parseSnapshot(snapshot);
  const parts = [BigInt(taken), xmin, xmax - xmin, ...xip.map((x) => x - xmin)];
  return `s.${parts.map((n) => n.toString(16)).join(".")}`;
}

function readToken(token: string): Token {
  const bad = () => validation("the cursor's snapshot is not one this table gave out");
  if (token.length > INLINE_TOKEN_LIMIT) throw bad();
  const registered = /^r\.([0-9a-f]{1,15})$/.exec(token);
  if (registered) return { id: BigInt(`0x${registered[1]}`) };
  if (!/^s(\.[0-9a-f]{1,16}){3,}$/.test(token)) throw bad();
  const [taken, xmin, span, ...xip] = token
    .slice(2)
    .split(".")
    .map((h) => BigInt(`0x${h}`)) as [bigint, bigint, bigint, ...bigint[]];
  const running = xip.map((d) => xmin + d);
  if (
    taken > BigInt(Number.MAX_SAFE_INTEGER) ||
    xmin + span > MAX_XID8 ||
    running.some((x, i) => x >= xmin + span || x <= (running[i - 1] ?? -1n))
  )
    throw bad();
  return { inline: { text: `${xmin}:${xmin + span}:${running.join(",")}`, xmin, taken: Number(taken) } };
}

const MAX_XID8 = (1n << 64n) - 1n;

function parseSnapshot(text: string): [bigint, bigint, bigint[]] {
  const [xmin, xmax, xip] = text.split(":") as [string, string, string];
  return [BigInt(xmin), BigInt(xmax), xip === "" ? [] : xip.split(",").map(BigInt)];
}

function gone(): AppError {
  return new AppError(
    "GONE",
    "this cursor's snapshot of the table has expired (a snapshot can be paged for an hour after its first page); start again from the first page",
  );
}

export class UsageSnapshots {
  private lastPrune = 0;
  private pruning: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: { readonly inlineTokenLimit?: number } = {},
  ) {}

  /** Refuses a malformed token before any transaction starts. */
  parse(token: string): Token {
    return readToken(token);
  }

  /**
   * The snapshot a later page reads at, checked in that page's transaction (`start`): refused as GONE when it is
   * over an hour old or the log may no longer hold a copy it needs.
   */
  async resolve(client: pg.ClientBase, token: Token, start: PageStart): Promise<Snapshot> {
    let snapshot: Snapshot;
    if ("inline" in token) {
      snapshot = token.inline;
    } else {
      const found = await client.query<{ snapshot: string; taken_ms: string }>(
        "SELECT snapshot::text, taken_ms FROM usage_snapshots WHERE id = $1",
        [token.id.toString()],
      );
      const row = found.rows[0];
      if (!row) throw gone();
      snapshot = { text: row.snapshot, xmin: parseSnapshot(row.snapshot)[0], taken: Number(row.taken_ms) };
    }
    const [, xmax] = parseSnapshot(snapshot.text);
    // A snapshot from the future is none this database gave out.
    if (xmax > parseSnapshot(start.snapshot)[1] || snapshot.taken > start.now + LOG_MARGIN_MS) {
      throw validation("the cursor's snapshot is not one this table gave out");
    }
    if (start.now - snapshot.taken > SNAPSHOT_TTL_MS || start.horizon === null || snapshot.xmin < start.horizon) {
      throw gone();
    }
    return snapshot;
  }

  /** The token for a first page's snapshot, kept in a table when it is too long to travel in a cursor. */
  async token(start: PageStart): Promise<string> {
    const inline = snapshotToken(start.snapshot, start.now);
    if (inline.length <= (this.options.inlineTokenLimit ?? INLINE_TOKEN_LIMIT)) return inline;
    const kept = await this.pool.query<{ id: string }>(
      "INSERT INTO usage_snapshots (snapshot, taken_ms) VALUES ($1::pg_snapshot, $2) RETURNING id",
      [start.snapshot, start.now],
    );
    return `r.${BigInt(kept.rows[0]?.id as string).toString(16)}`;
  }

  /** After a write: cuts the log in the background, at most once a minute on this node. */
  wrote(): void {
    const now = Date.now();
    if (this.pruning !== null || now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    // A failed cut changes nothing: the next one, a minute on, cuts what this one would have.
    this.pruning = this.prune()
      .catch(() => undefined)
      .finally(() => {
        this.pruning = null;
      });
  }

  /** Waits for a cut in progress, before the pool closes. */
  async close(): Promise<void> {
    await this.pruning;
  }

  /**
   * Records a mark, then cuts the copies that only snapshots older than an hour (and the margin) could need. One
   * node at a time: the others skip it.
   */
  async prune(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const locked = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_xact_lock($1, hashtext(coalesce(current_schema()::text, ''))) AS locked",
        [LOCK_USAGE_LOG],
      );
      if (locked.rows[0]?.locked) {
        await client.query(
          "INSERT INTO usage_log_marks (taken, oldest) VALUES (clock_timestamp(), pg_snapshot_xmin(pg_current_snapshot()))",
        );
        // The newest mark old enough: every snapshot that may still be paged was taken after it.
        const cut = await client.query<{ taken: string; oldest: string }>(
          `SELECT taken::text, oldest::text FROM usage_log_marks WHERE taken < now() - $1 * interval '1 millisecond'
           ORDER BY taken DESC LIMIT 1`,
          [SNAPSHOT_TTL_MS + LOG_MARGIN_MS],
        );
        const mark = cut.rows[0];
        if (mark) {
          await client.query("UPDATE usage_log_horizon SET cut = greatest(cut, $1::xid8)", [mark.oldest]);
          for (const log of ["usage_totals_log", "usage_cells_log", "usage_server_totals_log"]) {
            await client.query(`DELETE FROM ${log} WHERE xact < $1::xid8`, [mark.oldest]);
          }
          await client.query("DELETE FROM usage_log_marks WHERE taken < $1::timestamptz", [mark.taken]);
        }
        await client.query(
          "DELETE FROM usage_snapshots WHERE taken_ms < (extract(epoch FROM now()) * 1000)::bigint - $1",
          [SNAPSHOT_TTL_MS + LOG_MARGIN_MS],
        );
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
