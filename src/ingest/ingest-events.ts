// The one ingest path: validate each item, store the valid ones in one commit, report every rejection.

import { LIMITS, type UsageEvent, validateEvent } from "../domain/event.js";
import { truncate } from "../domain/value.js";
import type { EventLog } from "../store/port.js";
import type { IngestObserver, IngestSource } from "./ingest-observer.js";
import { missingKinds } from "./metric-kinds.js";
import type { BatchItem } from "./parse-body.js";

export interface Rejection {
  readonly index: number;
  readonly id?: string;
  readonly reason: string;
}

export interface IngestResult {
  readonly accepted: number;
  readonly duplicates: number;
  /** The first MAX_LISTED_REJECTIONS rejections, in batch order. */
  readonly rejected: Rejection[];
  /** Rejections beyond those listed, when there are any. */
  readonly rejected_omitted?: number;
}

/** An answer stays small whatever the batch: a client that sends thousands of bad events needs the first few. */
export const MAX_LISTED_REJECTIONS = 1_000;
/** Ids are echoed to help find the event, not to return what was sent: one longer than any valid id is cut. */
const ECHOED_ID_LENGTH = LIMITS.idBytes;

/** Why the sender may not send this event (e.g. an ingest token limited to other servers), or null when it may. */
export type EventGate = (event: UsageEvent) => string | null;

export interface IngestOptions {
  /** Who sent the batch, for the metrics (default http). */
  readonly source?: IngestSource;
  readonly observer?: IngestObserver;
}

export async function ingestEvents(
  store: EventLog,
  items: readonly BatchItem[],
  gate?: EventGate,
  options: IngestOptions = {},
): Promise<IngestResult> {
  const started = performance.now();
  const events: UsageEvent[] = [];
  const positions: number[] = [];
  const rejected: Rejection[] = [];
  const kinds = await missingKinds(store, items, gate);
  items.forEach((item, index) => {
    if ("error" in item) {
      rejected.push({ index, ...(item.id ? { id: item.id } : {}), reason: item.error });
      return;
    }
    const v = validateEvent(item.raw, item.names, kinds ?? undefined);
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
  const storeStarted = performance.now();
  const outcome = await store.insertEvents(events);
  const storeSeconds = (performance.now() - storeStarted) / 1000;
  for (const r of outcome.rejected) {
    const event = events[r.index] as UsageEvent;
    rejected.push({ index: positions[r.index] as number, id: event.id, reason: r.reason });
  }
  rejected.sort((a, b) => a.index - b.index);
  const listed = rejected
    .slice(0, MAX_LISTED_REJECTIONS)
    .map((r) =>
      r.id !== undefined && r.id.length > ECHOED_ID_LENGTH ? { ...r, id: truncate(r.id, ECHOED_ID_LENGTH) } : r,
    );
  const omitted = rejected.length - listed.length;
  options.observer?.ingested({
    source: options.source ?? "http",
    accepted: outcome.accepted,
    duplicates: outcome.duplicates,
    rejected: rejected.length,
    seconds: (performance.now() - started) / 1000,
    storeSeconds,
  });
  return {
    accepted: outcome.accepted,
    duplicates: outcome.duplicates,
    rejected: listed,
    ...(omitted > 0 ? { rejected_omitted: omitted } : {}),
  };
}
