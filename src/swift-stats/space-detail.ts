// space_detail: an account's bytes, containers and objects as they stood at each hour's start (as an hourly scan
// would have recorded them), summed over servers and instances.

import type { RollupRow } from "../domain/rollup.js";
import { HOUR_MS } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { SPACE_METRICS, type Space, type SpaceField, zeroSpace } from "./fields.js";
import { type LatestReading, levelAt } from "./level-at.js";
import type { SwiftStatsQuery } from "./query.js";

interface Series {
  readonly field: SpaceField;
  /** Rollup rows by hour: rows exist for every hour from a series' first reading to its latest. */
  readonly byHour: Map<number, RollupRow>;
  latest: LatestReading | null;
}

/**
 * [instant (epoch ms), space] in time order: for each hour's start T of the range, the latest reading at or before T
 * of every series, from the account's first reading on (from the range's start with fill=previous), up to now
 * (later instants have not happened: their level is not known).
 */
export async function spaceDetail(
  store: UsageReader,
  query: SwiftStatsQuery,
  now: number = Date.now(),
): Promise<[number, Space][]> {
  const metrics = Object.keys(SPACE_METRICS);
  // The hour before the range too: its row holds the level just before the range's first instant.
  const from = Math.max(0, query.fromHour - HOUR_MS);
  const [rows, ...latest] = await Promise.all([
    store.rollups({ account: query.account, from, to: query.toHour, metrics }),
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
      seriesOf(row.server, row.metric, row.instance).byHour.set(row.hour, row);
  }
  for (const levels of latest) {
    for (const l of levels) {
      if (l.account !== query.account || !SPACE_METRICS[l.metric]) continue;
      seriesOf(l.server, l.metric, l.instance).latest = { time: l.time, value: l.value };
    }
  }

  const answer: [number, Space][] = [];
  const held = new Map<string, bigint>();
  for (let at = query.fromHour; at < query.toHour && at <= now; at += HOUR_MS) {
    const space = zeroSpace();
    let known = false;
    for (const [key, s] of series) {
      // Defensive: a row missing between two readings leaves the level of the instant before.
      const value = levelAt(at, s.byHour.get(at - HOUR_MS), s.byHour.get(at), s.latest) ?? held.get(key);
      if (value === undefined) continue;
      held.set(key, value);
      known = true;
      space[s.field] += value;
    }
    // With fill=previous, instants before the account's first reading are zeros: nothing was stored yet.
    if (known || query.fill === "previous") answer.push([at, space]);
  }
  return answer;
}
