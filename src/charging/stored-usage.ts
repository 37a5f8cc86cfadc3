// An account's usage read through the UsageReader port, in the shape pricing takes: the stored hourly rollups, with
// each level or state's latest reading held on to the end of what is priced, as usageFromEvents does.

import { type RollupRow, seriesId } from "../domain/rollup.js";
import { HOUR_MS, hourOf } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import type { Policy } from "./policy.js";
import type { AccountUsage } from "./price.js";

export async function usageFromStore(
  usage: UsageReader,
  account: string,
  policy: Policy,
  from: number,
  to: number,
): Promise<AccountUsage> {
  const metrics = [...new Set([...policy.resources.values()].map((r) => r.metric))];
  if (metrics.length === 0) return { rows: [], notes: [] };
  const rows: RollupRow[] = [...(await usage.rollups({ account, from, to, metrics }))];
  const index = new Map(rows.map((r, i) => [`${seriesId(r)} ${r.hour}`, i]));
  for (const metric of metrics) {
    const resource = [...policy.resources.values()].find((r) => r.metric === metric);
    if (resource?.costpolicy !== "continuous" && resource?.costpolicy !== "onoff") continue;
    for (const level of await usage.currentLevels({ metric, accounts: [account] })) {
      if (level.time >= to) continue;
      // The store leaves the latest reading's hour open at the reading, and no row after it: hold it to `to`.
      const hour = hourOf(level.time);
      const kind = resource.costpolicy === "continuous" ? "level" : "state";
      const base = {
        server: level.server,
        account,
        metric,
        instance: level.instance,
        dims: level.dims,
        kind,
        sum: null,
      } as const;
      if (hour >= from) {
        const at = index.get(`${seriesId(level)} ${hour}`);
        const row = at === undefined ? undefined : rows[at];
        if (row && at !== undefined) {
          const held = level.value * BigInt(Math.min(hour + HOUR_MS, to) - level.time);
          rows[at] = { ...row, integral: (row.integral ?? 0n) + held };
        }
      }
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
  }
  return { rows, notes: [] };
}
