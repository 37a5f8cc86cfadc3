// Accounts' usage read through the UsageReader port, in the shape pricing takes: the stored hourly rollups, with
// each level or state's latest reading held on to the end of what is priced, as usageFromEvents does. One account
// at a time, or a page of accounts in one read for a billing run; both shape the rows the same way.

import { type RollupRow, seriesId } from "../domain/rollup.js";
import { HOUR_MS, hourOf } from "../domain/time.js";
import type { CurrentLevel, UsageReader } from "../store/port.js";
import type { Policy } from "./policy.js";
import type { AccountUsage } from "./price.js";

/** The metrics the policy charges, and the held ones among them with how their latest reading is held. */
function chargedMetrics(policy: Policy) {
  const metrics = [...new Set([...policy.resources.values()].map((r) => r.metric))];
  const held = new Map<string, "level" | "state">();
  for (const metric of metrics) {
    const resource = [...policy.resources.values()].find((r) => r.metric === metric);
    if (resource?.costpolicy === "continuous") held.set(metric, "level");
    if (resource?.costpolicy === "onoff") held.set(metric, "state");
  }
  return { metrics, held };
}

/** The usage of each account over [from, to), from one rollup read and one current-level read per held metric. */
export async function usageOfAccounts(
  usage: UsageReader,
  accounts: readonly string[],
  policy: Policy,
  from: number,
  to: number,
): Promise<Map<string, AccountUsage>> {
  const { metrics, held } = chargedMetrics(policy);
  const rows = new Map<string, RollupRow[]>(accounts.map((a) => [a, []]));
  const levels = new Map<string, CurrentLevel[]>(accounts.map((a) => [a, []]));
  if (metrics.length > 0 && accounts.length > 0) {
    for (const row of await usage.accountsRollups({ accounts, from, to, metrics })) rows.get(row.account)?.push(row);
    for (const metric of held.keys()) {
      for (const level of await usage.currentLevels({ metric, accounts })) levels.get(level.account)?.push(level);
    }
  }
  return new Map(accounts.map((a) => [a, heldToEnd(rows.get(a) ?? [], levels.get(a) ?? [], held, from, to)] as const));
}

/** An account's rows with each held series' latest reading held to `to`: the store leaves that hour open at it. */
function heldToEnd(
  stored: readonly RollupRow[],
  levels: readonly CurrentLevel[],
  held: ReadonlyMap<string, "level" | "state">,
  from: number,
  to: number,
): AccountUsage {
  const rows = [...stored];
  // The rows of the latest readings' hours, found by series: only those hours are looked up.
  const hours = new Set(levels.map((l) => hourOf(l.time)));
  const index = new Map<string, number>();
  rows.forEach((r, i) => {
    if (hours.has(r.hour)) index.set(`${seriesId(r)} ${r.hour}`, i);
  });
  for (const level of levels) {
    const kind = held.get(level.metric);
    if (kind === undefined || level.time >= to) continue;
    const hour = hourOf(level.time);
    if (hour >= from) {
      const at = index.get(`${seriesId(level)} ${hour}`);
      const row = at === undefined ? undefined : rows[at];
      if (row && at !== undefined) {
        const value = level.value * BigInt(Math.min(hour + HOUR_MS, to) - level.time);
        rows[at] = { ...row, integral: (row.integral ?? 0n) + value };
      }
    }
    const base = {
      server: level.server,
      account: level.account,
      metric: level.metric,
      instance: level.instance,
      dims: level.dims,
      kind,
      sum: null,
    } as const;
    for (let h = Math.max(hour + HOUR_MS, from); h < to; h += HOUR_MS) {
      rows.push({
        ...base,
        hour: h,
        count: 0,
        last: level.value,
        max: level.value,
        integral: level.value * BigInt(HOUR_MS),
      });
    }
  }
  return { rows, notes: [] };
}
