// The one ingest path: validate each item, store the valid ones in one commit, report every rejection.

import { type UsageEvent, validateEvent } from "../domain/event.js";
import type { UsageStore } from "../store/port.js";
import type { BatchItem } from "./parse-body.js";

export interface Rejection {
  readonly index: number;
  readonly id?: string;
  readonly reason: string;
}

export interface IngestResult {
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: Rejection[];
}

/** Why the sender may not send this event (e.g. an ingest token limited to other servers), or null when it may. */
export type EventGate = (event: UsageEvent) => string | null;

export async function ingestEvents(
  store: UsageStore,
  items: readonly BatchItem[],
  gate?: EventGate,
): Promise<IngestResult> {
  const events: UsageEvent[] = [];
  const positions: number[] = [];
  const rejected: Rejection[] = [];
  items.forEach((item, index) => {
    if ("error" in item) {
      rejected.push({ index, ...(item.id ? { id: item.id } : {}), reason: item.error });
      return;
    }
    const v = validateEvent(item.raw, item.names);
    const refused = v.ok && gate ? gate(v.event) : null;
    if (v.ok && refused !== null) {
      rejected.push({ index, id: v.event.id, reason: refused });
    } else if (v.ok) {
      events.push(v.event);
      positions.push(index);
    } else {
      rejected.push({ index, ...(v.id !== undefined ? { id: v.id } : {}), reason: v.reason });
    }
  });
  const outcome = await store.insertEvents(events);
  for (const r of outcome.rejected) {
    const event = events[r.index] as UsageEvent;
    rejected.push({ index: positions[r.index] as number, id: event.id, reason: r.reason });
  }
  rejected.sort((a, b) => a.index - b.index);
  return { accepted: outcome.accepted, duplicates: outcome.duplicates, rejected };
}
