// renderAccountUsage: one account's current usage per server and its hourly history (stored bytes, requests,
// bytes in and out), from the current levels and the rollups.

import { AppError, validation } from "../domain/errors.js";
import type { RollupRow } from "../domain/rollup.js";
import { compareUtf8 } from "../domain/rollup.js";
import { HOUR_MS, hourOf, isoTime } from "../domain/time.js";
import type { CurrentLevel } from "../store/port.js";
import type { UsageViewDeps } from "./render-usage-table.js";

export const DEFAULT_HOURS = 48;
export const MAX_HOURS = 24 * 92;

const REQUESTS = [
  "requests.get",
  "requests.put",
  "requests.head",
  "requests.post",
  "requests.delete",
  "requests.other",
];

export interface AccountServerView {
  readonly id: string;
  readonly bytes: bigint | null;
  readonly files: bigint | null;
  /** Time of the latest reading of either. */
  readonly lastReading: number | null;
  readonly lastHeard: number | null;
  readonly stale: boolean;
}

export interface AccountHour {
  readonly hour: number;
  /** Stored bytes at the end of the hour, summed over servers and instances. */
  readonly stored: bigint;
  readonly requests: bigint;
  readonly bytesIn: bigint;
  readonly bytesOut: bigint;
}

export interface AccountUsageView {
  readonly account: string;
  readonly petname: string | null;
  readonly asOf: number;
  readonly now: number;
  readonly hours: number;
  readonly servers: AccountServerView[];
  readonly total: { readonly bytes: bigint; readonly files: bigint };
  readonly history: AccountHour[];
  readonly demo: boolean;
  readonly staleAfterMs: number;
}

export function parseHours(text: string | undefined): number {
  if (text === undefined || text === "") return DEFAULT_HOURS;
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > MAX_HOURS) {
    throw validation(`hours must be a whole number from 1 to ${MAX_HOURS}`);
  }
  return Number(text);
}

export async function renderAccountUsage(
  deps: UsageViewDeps,
  account: string,
  hours: number = DEFAULT_HOURS,
): Promise<AccountUsageView> {
  const now = deps.now?.() ?? Date.now();
  const { usage: store } = deps;
  const to = hourOf(now) + HOUR_MS;
  const from = to - hours * HOUR_MS;
  const [bytes, files, rows, petnames, known] = await Promise.all([
    store.currentLevels({ metric: "storage.bytes", accounts: [account] }),
    store.currentLevels({ metric: "storage.files", accounts: [account] }),
    store.rollups({ account, from, to, metrics: ["storage.bytes", "bytes.in", "bytes.out", ...REQUESTS] }),
    deps.petnames.get([account]),
    store.servers(),
  ]);
  const petname = petnames.get(account) ?? null;
  if (bytes.length === 0 && files.length === 0 && rows.length === 0 && petname === null) {
    throw new AppError("NOT_FOUND", `no usage is recorded for account "${account.slice(0, 80)}"`);
  }

  const perServer = new Map<string, { bytes: bigint | null; files: bigint | null; lastReading: number | null }>();
  const add = (levels: CurrentLevel[], key: "bytes" | "files") => {
    for (const l of levels) {
      const s = perServer.get(l.server) ?? { bytes: null, files: null, lastReading: null };
      s[key] = (s[key] ?? 0n) + l.value;
      s.lastReading = Math.max(s.lastReading ?? 0, l.time);
      perServer.set(l.server, s);
    }
  };
  add(bytes, "bytes");
  add(files, "files");
  for (const r of rows)
    if (!perServer.has(r.server)) perServer.set(r.server, { bytes: null, files: null, lastReading: null });
  const heard = new Map(known.map((s) => [s.server, s.lastHeard]));
  const servers = [...perServer]
    .sort(([a], [b]) => compareUtf8(a, b))
    .map(([id, s]) => {
      const lastHeard = heard.get(id) ?? null;
      return { id, ...s, lastHeard, stale: lastHeard === null || now - lastHeard > deps.staleAfterMs };
    });
  const total = {
    bytes: servers.reduce((sum, s) => sum + (s.bytes ?? 0n), 0n),
    files: servers.reduce((sum, s) => sum + (s.files ?? 0n), 0n),
  };
  return {
    account,
    petname,
    asOf: now,
    now,
    hours,
    servers,
    total,
    history: hourly(rows, bytes, from, to),
    demo: deps.demo,
    staleAfterMs: deps.staleAfterMs,
  };
}

/**
 * Hour by hour from `from` to `to`: counters summed, and stored bytes as each series held them. Rollups fill
 * every hour between a series' readings, so a series with rows in the range holds its last value after its
 * last row, and had none before its first; a series without rows in the range held its current value throughout
 * (its latest reading came before the range).
 */
function hourly(rows: readonly RollupRow[], levels: readonly CurrentLevel[], from: number, to: number): AccountHour[] {
  const count = Math.max(0, (to - from) / HOUR_MS);
  const stored = new Array<bigint>(count).fill(0n);
  const requests = new Array<bigint>(count).fill(0n);
  const bytesIn = new Array<bigint>(count).fill(0n);
  const bytesOut = new Array<bigint>(count).fill(0n);
  const series = new Map<string, RollupRow[]>();
  for (const r of rows) {
    const i = (r.hour - from) / HOUR_MS;
    if (i < 0 || i >= count) continue;
    if (r.metric === "storage.bytes") {
      const key = JSON.stringify([r.server, r.instance]);
      const list = series.get(key) ?? [];
      list.push(r);
      series.set(key, list);
    } else if (r.metric === "bytes.in") bytesIn[i] = (bytesIn[i] as bigint) + (r.sum ?? 0n);
    else if (r.metric === "bytes.out") bytesOut[i] = (bytesOut[i] as bigint) + (r.sum ?? 0n);
    else requests[i] = (requests[i] as bigint) + (r.sum ?? 0n);
  }
  for (const list of series.values()) {
    list.sort((a, b) => a.hour - b.hour);
    let held: bigint | null = null;
    let next = 0;
    for (let i = 0; i < count; i++) {
      const row = list[next];
      if (row && row.hour === from + i * HOUR_MS) {
        held = row.last;
        next++;
      }
      if (held !== null) stored[i] = (stored[i] as bigint) + held;
    }
  }
  for (const l of levels) {
    if (series.has(JSON.stringify([l.server, l.instance]))) continue;
    if (l.time >= to) continue;
    for (let i = 0; i < count; i++)
      if (from + i * HOUR_MS >= hourOf(l.time)) stored[i] = (stored[i] as bigint) + l.value;
  }
  return stored.map((s, i) => ({
    hour: from + i * HOUR_MS,
    stored: s,
    requests: requests[i] as bigint,
    bytesIn: bytesIn[i] as bigint,
    bytesOut: bytesOut[i] as bigint,
  }));
}

export function accountUsageJson(view: AccountUsageView) {
  const dec = (v: bigint | null) => (v === null ? null : v.toString());
  return {
    as_of: isoTime(view.asOf),
    account: view.account,
    petname: view.petname,
    servers: view.servers.map((s) => ({
      id: s.id,
      bytes: dec(s.bytes),
      files: dec(s.files),
      last_reading: s.lastReading === null ? null : isoTime(s.lastReading),
      last_heard: s.lastHeard === null ? null : isoTime(s.lastHeard),
      stale: s.stale,
    })),
    total: { bytes: view.total.bytes.toString(), files: view.total.files.toString() },
    hours: view.history.map((h) => ({
      hour: isoTime(h.hour),
      stored_bytes: h.stored.toString(),
      requests: h.requests.toString(),
      bytes_in: h.bytesIn.toString(),
      bytes_out: h.bytesOut.toString(),
    })),
  };
}
