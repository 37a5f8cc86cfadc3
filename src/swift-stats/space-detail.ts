// space_detail: an account's bytes, containers and objects as they stood at the end of each hour of the range,
// summed over servers and instances.

import { HOUR_MS, hourOf } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { SPACE_METRICS, type Space, type SpaceField, zeroSpace } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";

interface Series {
  readonly field: SpaceField;
  /** Rollup `last` by hour: rows exist for every hour from a series' first reading to its latest. */
  readonly byHour: Map<number, bigint>;
  /** The latest reading of the series: it holds for every hour after its own. */
  latest: { readonly hour: number; readonly value: bigint } | null;
}

/**
 * [hour start (epoch ms), space] in time order, for every hour of the range from the account's first reading on,
 * up to the current hour (later hours have not happened: their level is not known).
 */
export async function spaceDetail(
  store: UsageReader,
  query: SwiftStatsQuery,
  now: number = Date.now(),
): Promise<[number, Space][]> {
  const metrics = Object.keys(SPACE_METRICS);
  const [rows, ...latest] = await Promise.all([
    store.rollups({ account: query.account, from: query.fromHour, to: query.toHour, metrics }),
    ...metrics.map((metric) => store.currentLevels({ metric, accounts: [query.account] })),
  ]);
  const series = new Map<string, Series>();
  const seriesOf = (server: string, metric: string, instance: string): Series => {
    const key = JSON.stringify([server, metric, instance]);
    let s = series.get(key);
    if (!s) {
      s = { field: SPACE_METRICS[metric] as SpaceField, byHour: new Map(), latest: null };
      series.set(key, s);
    }
    return s;
  };
  for (const row of rows) {
    if (row.last !== null && SPACE_METRICS[row.metric])
      seriesOf(row.server, row.metric, row.instance).byHour.set(row.hour, row.last);
  }
  for (const levels of latest) {
    for (const l of levels) {
      if (l.account !== query.account || !SPACE_METRICS[l.metric]) continue;
      seriesOf(l.server, l.metric, l.instance).latest = { hour: hourOf(l.time), value: l.value };
    }
  }

  const answer: [number, Space][] = [];
  const end = Math.min(query.toHour, hourOf(now) + HOUR_MS);
  const held = new Map<string, bigint>();
  for (let hour = query.fromHour; hour < end; hour += HOUR_MS) {
    const space = zeroSpace();
    let known = false;
    for (const [key, s] of series) {
      let value = s.byHour.get(hour);
      if (value === undefined && s.latest && hour > s.latest.hour) value = s.latest.value;
      // Defensive: a missing row between two readings holds the previous hour's value.
      value ??= held.get(key);
      if (value === undefined) continue;
      held.set(key, value);
      known = true;
      space[s.field] += value;
    }
    if (known) answer.push([hour, space]);
  }
  return answer;
}
