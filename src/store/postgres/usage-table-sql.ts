// SQL pieces the PostgreSQL usage table's statements share: numbered parameters, the search and snapshot
// conditions, and a row's parts read beside its key.

import type { UsageTableRow } from "../port.js";
import type { Snapshot } from "./usage-snapshots.js";

/** Builds a parameter list: each call adds a value and returns its $n placeholder. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

export interface Filter {
  readonly metric: string;
  readonly subset: string[] | null;
  readonly like: string | null;
}

/** The search's condition on `alias`.account: its id or its petname contains the text. */
export function searched(filter: Filter, p: Params, alias: string): string[] {
  if (filter.like === null) return [];
  const like = p.add(filter.like);
  return [
    `(${alias}.account ILIKE ${like} OR ${alias}.account IN (SELECT account FROM petnames WHERE name ILIKE ${like}))`,
  ];
}

/**
 * At a snapshot, only the accounts whose totals rows (`alias`) have not moved since, whose cells have not moved
 * either (every write of a cell writes its account's total): the others are read from the log.
 */
export function unmoved(at: Snapshot | null, p: Params, alias: string): string[] {
  if (at === null) return [];
  return [`pg_visible_in_snapshot(${alias}.changed, ${p.add(at.text)}::pg_snapshot)`];
}

/**
 * Log rows (`alias`) written by transactions the snapshot does not see: all have an id at least its xmin, which
 * the index finds.
 */
export function sinceSnapshot(p: Params, at: Snapshot, alias: string): string {
  return `${alias}.xact >= ${p.add(at.xmin.toString())}::xid8
    AND NOT pg_visible_in_snapshot(${alias}.xact, ${p.add(at.text)}::pg_snapshot)`;
}

/** An account's row as read: its total and its cells (by server, in decimal; only the columns' unless moved). */
export interface RawRow {
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
export function rowParts(p: Params, columns: readonly string[]): string {
  return `(SELECT p.name FROM petnames p WHERE p.account = t.account) AS petname,
    (SELECT json_object_agg(c.server, c.value::text) FROM usage_cells c
     WHERE c.metric = t.metric AND c.account = t.account AND c.server = ANY(${p.add(columns)}::text[])) AS cells`;
}

export function rowOf(r: RawRow, columns: readonly string[]): UsageTableRow {
  const byServer: Record<string, bigint> = {};
  for (const server of columns) {
    const v = r.cells?.[server];
    if (v !== undefined) byServer[server] = BigInt(v);
  }
  return { account: r.account, petname: r.petname, byServer, total: r.total === null ? 0n : BigInt(r.total) };
}
