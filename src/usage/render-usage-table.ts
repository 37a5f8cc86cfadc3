// renderUsageTable: one page of the usage table with its servers (and which are stale), totals and cursors,
// ready for the JSON, CSV and HTML renderings, which all show the same data.

import { validation } from "../domain/errors.js";
import { compareUtf8 } from "../domain/rollup.js";
import { hourOf, isoTime } from "../domain/time.js";
import type { FeedStore } from "../feeds/feed-store.js";
import { subscriptionJson } from "../feeds/subscribe.js";
import type { PetnameStore } from "../petnames/petname-store.js";
import { sortedUnique } from "../store/keyset.js";
import type { UsageReader, UsageTablePage, UsageTableReader, UsageTableRow } from "../store/port.js";
import { assertMetricKind } from "./metric-kind-check.js";
import { encodeCursor, type UsageRequest } from "./usage-request.js";

export interface UsageViewDeps {
  readonly usage: UsageReader;
  readonly usageTable: UsageTableReader;
  readonly petnames: PetnameStore;
  /** The subscriptions, whose health the page shows (to readers of every account only). */
  readonly feeds?: FeedStore;
  /** A server not heard from for longer than this is marked stale. */
  readonly staleAfterMs: number;
  /** The data is simulated (tally serve --demo): pages say so. */
  readonly demo: boolean;
  readonly now?: () => number;
}

export interface UsageServerView {
  readonly id: string;
  readonly name: string;
  /** Wall-clock time Tally last stored an event from the server; null for a server it has never heard from. */
  readonly lastHeard: number | null;
  readonly stale: boolean;
}

export interface UsageTableView {
  readonly request: UsageRequest;
  readonly metric: string;
  /** When the numbers hold: now, or the hour asked for with `at`. */
  readonly asOf: number;
  readonly history: boolean;
  readonly now: number;
  readonly servers: UsageServerView[];
  readonly rows: UsageTableRow[];
  readonly totals: UsageTablePage["totals"];
  /** Cursors for after= (the next page) and before= (the previous one), or null at either end. */
  readonly next: string | null;
  readonly prev: string | null;
  readonly demo: boolean;
  readonly staleAfterMs: number;
  /** Set when the caller may only see one account. */
  readonly scope: string | null;
  /** The feeds this node pulls, with their health; empty for a caller limited to one account. */
  readonly subscriptions: SubscriptionView[];
}

export type SubscriptionView = ReturnType<typeof subscriptionJson>;

/**
 * `scope` limits the table to one account (a principal of role "account"); every other account is left out of
 * the rows and the totals alike.
 */
export async function renderUsageTable(
  deps: UsageViewDeps,
  request: UsageRequest,
  scope: string | null = null,
): Promise<UsageTableView> {
  const now = deps.now?.() ?? Date.now();
  // A counter, a state or an unknown name would read as an empty table: say what the table can show instead.
  await assertMetricKind(deps.usage, request.metric, "level");
  const known = await deps.usage.servers();
  if (request.sort.by === "server") {
    const server = request.sort.server;
    if (!known.some((s) => s.server === server)) {
      throw validation(
        `sort must be total, account or the id of a server; no server is called "${server.slice(0, 60)}"`,
      );
    }
  }
  let accounts = request.accounts;
  if (scope !== null) accounts = accounts ? accounts.filter((a) => a === scope) : [scope];
  let servers = request.servers;
  // The sort server's cells are the cursor's values: keep it among the columns.
  if (servers && request.sort.by === "server" && !servers.includes(request.sort.server)) {
    servers = [...servers, request.sort.server];
  }
  const page = await deps.usageTable.usageTable({
    metric: request.metric,
    sort: request.sort,
    limit: request.limit,
    after: request.after,
    before: request.before,
    accounts,
    search: request.search,
    servers: servers ? sortedUnique(servers) : undefined,
    at: request.at,
    snapshot: request.snapshot,
  });

  // Pages read at the snapshot of an earlier page hold the table as it was then.
  const snapshotTime =
    page.snapshot !== undefined && page.snapshot === request.snapshot ? (request.snapshotTime ?? now) : now;
  const snapshot = page.snapshot === undefined ? undefined : { token: page.snapshot, time: snapshotTime };
  const heard = new Map(known.map((s) => [s.server, s.lastHeard]));
  const serverViews = page.servers.map((id) => {
    const lastHeard = heard.get(id) ?? null;
    return { id, name: id, lastHeard, stale: lastHeard === null || now - lastHeard > deps.staleAfterMs };
  });

  const position = (row: UsageTableRow) => {
    const sort = request.sort;
    const value = sort.by === "total" ? row.total : sort.by === "account" ? null : (row.byServer[sort.server] ?? null);
    return encodeCursor({ value, account: row.account }, sort, request.metric, snapshot);
  };
  const first = page.rows[0];
  const last = page.rows.at(-1);
  let next: string | null;
  let prev: string | null;
  if (request.before) {
    prev = page.more && first ? position(first) : null;
    next = last ? position(last) : null;
  } else {
    next = page.more && last ? position(last) : null;
    prev = request.after && first ? position(first) : null;
  }
  return {
    request,
    metric: request.metric,
    asOf: request.at === undefined ? snapshotTime : hourOf(request.at),
    history: request.at !== undefined,
    now,
    servers: serverViews.sort((a, b) => compareUtf8(a.id, b.id)),
    rows: page.rows,
    totals: page.totals,
    next,
    prev,
    demo: deps.demo,
    staleAfterMs: deps.staleAfterMs,
    scope,
    subscriptions:
      scope === null && deps.feeds ? (await deps.feeds.listSubscriptions()).map((s) => subscriptionJson(s, now)) : [],
  };
}

/** The JSON answer: byte counts (and every other value) as decimal strings, exact beyond 2^53. */
export function usageTableJson(view: UsageTableView) {
  return {
    as_of: isoTime(view.asOf),
    metric: view.metric,
    servers: view.servers.map((s) => ({
      id: s.id,
      name: s.name,
      last_heard: s.lastHeard === null ? null : isoTime(s.lastHeard),
      stale: s.stale,
    })),
    rows: view.rows.map((r) => ({
      account: r.account,
      petname: r.petname,
      by_server: decimalRecord(r.byServer),
      total: r.total.toString(),
    })),
    totals: { by_server: decimalRecord(view.totals.byServer), total: view.totals.total.toString() },
    next: view.next,
    // Only on a node that pulls feeds, so that the table's shape stays as documented elsewhere.
    ...(view.subscriptions.length > 0 ? { subscriptions: view.subscriptions } : {}),
  };
}

function decimalRecord(record: Readonly<Record<string, bigint>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in record) out[key] = (record[key] as bigint).toString();
  return out;
}

/**
 * CSV: a header `account,petname,<server>…,total`, one line per row, and a last line with an empty account and
 * the petname `(total)` carrying the totals. Text that a spreadsheet would run as a formula is prefixed with '.
 */
export function usageTableCsv(view: UsageTableView): string {
  const ids = view.servers.map((s) => s.id);
  const lines = [["account", "petname", ...ids, "total"].map(csvField).join(",")];
  for (const r of view.rows) {
    const cells = ids.map((id) => r.byServer[id]?.toString() ?? "");
    lines.push([csvField(r.account), csvField(r.petname ?? ""), ...cells, r.total.toString()].join(","));
  }
  const totals = ids.map((id) => view.totals.byServer[id]?.toString() ?? "");
  lines.push(["", "(total)", ...totals, view.totals.total.toString()].join(","));
  return `${lines.join("\r\n")}\r\n`;
}

export function csvField(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
