// An account's usage from its events alone, in the shape pricing takes (offline bills, tests): the hourly rollups
// the domain computes, each level or state's latest reading held to the end, and what the bill should say of them.
// The stored twin is stored-usage.ts.

import { rollupsHeldUntil } from "../domain/day-usage.js";
import { validation } from "../domain/errors.js";
import type { UsageEvent } from "../domain/event.js";
import { compareReadings, seriesId } from "../domain/rollup.js";
import { isoTime } from "../domain/time.js";
import type { Policy } from "./policy.js";
import type { AccountUsage } from "./price.js";

/** The usage of an account from its events alone (offline pricing, tests): rows held to `until`, notes for [from, until). */
export function usageFromEvents(
  all: readonly UsageEvent[],
  account: string,
  policy: Policy,
  from: number,
  until: number,
): AccountUsage {
  const events = accountEvents(all, account, until);
  return { rows: rollupsHeldUntil(events, until), notes: offWithoutOn(events, from, until, policy) };
}

/** The account's events before `to`, each (server, id) once: the same event twice is one; two that differ are refused. */
function accountEvents(all: readonly UsageEvent[], account: string, to: number): UsageEvent[] {
  const seen = new Map<string, UsageEvent>();
  for (const e of all) {
    if (e.account !== account || e.time >= to) continue;
    const key = JSON.stringify([e.server, e.id]);
    const prev = seen.get(key);
    if (!prev) seen.set(key, e);
    else if (JSON.stringify(eventKey(prev)) !== JSON.stringify(eventKey(e))) {
      throw validation(`event ${e.id} of server ${e.server} appears twice with different contents`);
    }
  }
  return [...seen.values()];
}

const eventKey = (e: UsageEvent) => [e.time, e.metric, e.kind, e.value.toString(), e.instance, e.dims];

/** A state turned off (0) with no earlier reading on (1) in its series: charges nothing, and is said. */
function offWithoutOn(events: readonly UsageEvent[], from: number, to: number, policy: Policy): string[] {
  const charged = new Set([...policy.resources.values()].filter((r) => r.costpolicy === "onoff").map((r) => r.metric));
  const series = new Map<string, UsageEvent[]>();
  for (const e of events) {
    if (e.kind !== "state" || !charged.has(e.metric)) continue;
    const id = seriesId(e);
    series.set(id, [...(series.get(id) ?? []), e]);
  }
  const notes: string[] = [];
  for (const list of series.values()) {
    const sorted = list.sort(compareReadings);
    sorted.forEach((e, i) => {
      const before = sorted[i - 1];
      if (e.value === 0n && (!before || before.value === 0n) && e.time >= from && e.time < to) {
        const where = `${e.metric}${e.instance ? ` instance ${e.instance}` : ""} on server ${e.server}`;
        notes.push(
          `${where} turned off at ${isoTime(e.time)} without being on before (event ${e.id}): nothing charged`,
        );
      }
    });
  }
  return notes.sort();
}
