// renderStateTable: which accounts have a state metric on, per server, from the latest reading of each series,
// ready for the JSON, CSV and HTML renderings, which all show the same data.

import { validation } from "../domain/errors.js";
import { LIMITS, METRIC_NAME } from "../domain/event.js";
import { compareUtf8 } from "../domain/rollup.js";
import { nameTextProblem } from "../domain/text.js";
import { isoTime } from "../domain/time.js";
import { assertMetricKind } from "./metric-kind-check.js";
import { csvField, type UsageViewDeps } from "./render-usage-table.js";
import { listParam, MAX_LIMIT, MAX_SUBSET, type UsageFormat } from "./usage-request.js";

export const DEFAULT_STATE_LIMIT = 1_000;

export interface StateRequest {
  readonly metric: string;
  readonly format: UsageFormat | null;
  readonly limit: number;
  /** Rows for accounts strictly after this one, in UTF-8 byte order. */
  readonly after: string | undefined;
  readonly accounts: readonly string[] | undefined;
  readonly servers: readonly string[] | undefined;
}

export interface StateRow {
  readonly account: string;
  readonly petname: string | null;
  /** Per server where the account has a reading: how many of its instances there are on now (0: all off). */
  readonly byServer: Readonly<Record<string, number>>;
}

export interface StateTableView {
  readonly request: StateRequest;
  readonly metric: string;
  readonly asOf: number;
  /** Servers with a reading of the metric, in UTF-8 byte order. */
  readonly servers: readonly string[];
  readonly rows: readonly StateRow[];
  /** Per server, accounts on this page with the state on there. */
  readonly onByServer: Readonly<Record<string, number>>;
  /** The last account of this page when accounts go on past it, for after=. */
  readonly next: string | null;
  readonly demo: boolean;
}

/** Reads the query string; anything malformed is a VALIDATION error naming the parameter. */
export function parseStateRequest(params: URLSearchParams): StateRequest {
  const one = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw validation(`${name} is given ${all.length} times; give it once`);
    return all[0] || undefined;
  };
  const format = one("format");
  if (format !== undefined && format !== "html" && format !== "json" && format !== "csv") {
    throw validation(`format must be html, json or csv, not "${format.slice(0, 20)}"`);
  }
  const metric = one("metric");
  if (metric === undefined) throw validation("metric is missing: name a state metric, such as metric=power.on");
  if (!METRIC_NAME.test(metric) || metric.length > LIMITS.nameBytes) {
    throw validation(`metric "${metric.slice(0, 40)}" is not a metric name like power.on`);
  }
  const limitText = one("limit");
  if (limitText !== undefined && (!/^\d{1,6}$/.test(limitText) || +limitText < 1 || +limitText > MAX_LIMIT)) {
    throw validation(`limit must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  const after = one("after");
  if (after !== undefined && (Buffer.byteLength(after) > LIMITS.nameBytes || nameTextProblem(after) !== null)) {
    throw validation("after must be an account id, as next gives it");
  }
  const accounts = listParam(params, "account", "accounts");
  if (accounts && accounts.length > MAX_SUBSET) throw validation(`a subset may name at most ${MAX_SUBSET} accounts`);
  if (accounts?.some((a) => Buffer.byteLength(a) > LIMITS.nameBytes)) {
    throw validation(`account is longer than ${LIMITS.nameBytes} bytes`);
  }
  return {
    metric,
    format: format ?? null,
    limit: limitText === undefined ? DEFAULT_STATE_LIMIT : Number(limitText),
    after,
    accounts,
    servers: listParam(params, "server", "servers"),
  };
}

export async function renderStateTable(deps: UsageViewDeps, request: StateRequest): Promise<StateTableView> {
  await assertMetricKind(deps.usage, request.metric, "state");
  const readings = await deps.usage.currentLevels({
    metric: request.metric,
    ...(request.accounts ? { accounts: request.accounts } : {}),
    ...(request.servers ? { servers: request.servers } : {}),
  });
  const cells = new Map<string, Record<string, number>>();
  const servers = new Set<string>();
  for (const r of readings) {
    servers.add(r.server);
    if (request.after !== undefined && compareUtf8(r.account, request.after) <= 0) continue;
    const byServer = cells.get(r.account) ?? {};
    byServer[r.server] = (byServer[r.server] ?? 0) + (r.value === 1n ? 1 : 0);
    cells.set(r.account, byServer);
  }
  const accounts = [...cells.keys()].sort(compareUtf8);
  const page = accounts.slice(0, request.limit);
  const petnames = await deps.petnames.get(page);
  const onByServer: Record<string, number> = {};
  const rows = page.map((account) => {
    const byServer = cells.get(account) as Record<string, number>;
    for (const server in byServer) {
      if ((byServer[server] as number) > 0) onByServer[server] = (onByServer[server] ?? 0) + 1;
    }
    return { account, petname: petnames.get(account) ?? null, byServer };
  });
  return {
    request,
    metric: request.metric,
    asOf: deps.now?.() ?? Date.now(),
    servers: [...servers].sort(compareUtf8),
    rows,
    onByServer,
    next: accounts.length > page.length ? (page.at(-1) ?? null) : null,
    demo: deps.demo,
  };
}

export function stateTableJson(view: StateTableView) {
  return {
    as_of: isoTime(view.asOf),
    metric: view.metric,
    servers: view.servers,
    rows: view.rows.map((r) => ({ account: r.account, petname: r.petname, on_by_server: r.byServer })),
    totals: { accounts_on_by_server: view.onByServer },
    next: view.next,
  };
}

/** CSV: `account,petname,<server>…`, a cell per server with a reading (instances on there), then a totals line. */
export function stateTableCsv(view: StateTableView): string {
  const lines = [["account", "petname", ...view.servers].map(csvField).join(",")];
  for (const r of view.rows) {
    const cells = view.servers.map((s) => r.byServer[s]?.toString() ?? "");
    lines.push([csvField(r.account), csvField(r.petname ?? ""), ...cells].join(","));
  }
  lines.push(["", "(accounts on)", ...view.servers.map((s) => String(view.onByServer[s] ?? 0))].join(","));
  return `${lines.join("\r\n")}\r\n`;
}
