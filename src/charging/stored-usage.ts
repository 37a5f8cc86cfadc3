// Accounts' usage read through the UsageReader port, in the shape pricing takes: the stored hourly rollups (or, for a
// billing run, the whole days by day), with each level or state's latest reading held on to the end of what is
// priced, as usageFromEvents (event-usage.ts) does. One account at a time, or a page of accounts in one read; both shape it alike.

import { DAY_MS, type DayRow, dayOf } from "../domain/day-usage.js";
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

/** How usage is read for pricing: hour by hour, or the whole UTC days by day and only the hours outside them by hour. */
export type UsageGrain = "hour" | "day";

/**
 * The usage of each account over [from, to), from one rollup read per range read by hour, one read of the whole
 * days by day, and one current-level read per held metric.
 */
export async function usageOfAccounts(
  usage: UsageReader,
  accounts: readonly string[],
  policy: Policy,
  from: number,
  to: number,
  grain: UsageGrain = "hour",
): Promise<Map<string, AccountUsage>> {
  const { metrics, held } = chargedMetrics(policy);
  const firstDay = Math.ceil(from / DAY_MS) * DAY_MS;
  const endDay = Math.max(dayOf(to), firstDay);
  const byDay = grain === "day" && endDay > firstDay;
  const hourRanges = byDay ? [[from, firstDay] as const, [endDay, to] as const] : [[from, to] as const];
  const rows = new Map<string, RollupRow[]>(accounts.map((a) => [a, []]));
  const days = new Map<string, DayRow[]>(accounts.map((a) => [a, []]));
  const levels = new Map<string, CurrentLevel[]>(accounts.map((a) => [a, []]));
  if (metrics.length > 0 && accounts.length > 0) {
    for (const metric of held.keys()) {
      for (const level of await usage.currentLevels({ metric, accounts })) levels.get(level.account)?.push(level);
    }
    if (byDay) {
      // An account's days come one after another: its list is looked up once for them.
      let account: string | undefined;
      let list: DayRow[] | undefined;
      for (const day of await usage.accountsDays({ accounts, from: firstDay, to: endDay, metrics })) {
        if (day.account !== account) {
          account = day.account;
          list = days.get(account);
        }
        list?.push(day);
      }
    }
    for (const [a, b] of hourRanges) {
      if (a >= b) continue;
      const read = new Map<string, RollupRow[]>(accounts.map((account) => [account, []]));
      for (const row of await usage.accountsRollups({ accounts, from: a, to: b, metrics })) {
        read.get(row.account)?.push(row);
      }
      for (const account of accounts) {
        // concat, not push(...): a month of hours of many instances is more arguments than a call takes.
        const own = heldToEnd(read.get(account) ?? [], levels.get(account) ?? [], held, a, b);
        rows.set(account, (rows.get(account) ?? []).concat(own));
      }
    }
  }
  return new Map(
    accounts.map((a) => [a, { rows: rows.get(a) ?? [], ...(byDay ? { days: days.get(a) ?? [] } : {}), notes: [] }]),
  );
}

/** An account's rows with each held series' latest reading held to `to`: the store leaves that hour open at it. */
function heldToEnd(
  stored: readonly RollupRow[],
  levels: readonly CurrentLevel[],
  held: ReadonlyMap<string, "level" | "state">,
  from: number,
  to: number,
): RollupRow[] {
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
  return rows;
}
