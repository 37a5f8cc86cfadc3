// Reading a feed by its capability: the events it carries after a cursor, waiting for new ones when asked.

import { AppError } from "../domain/errors.js";
import type { UsageEvent } from "../domain/event.js";
import { isoTime } from "../domain/time.js";
import type { EventFeedReader, FeedPage } from "../store/port.js";
import { hashCapability, isCapability } from "./capability.js";
import type { FeedStore } from "./feed-store.js";

export const DEFAULT_PAGE_EVENTS = 1000;
export const MAX_PAGE_EVENTS = 10_000;
export const MAX_WAIT_MS = 60_000;
/** How often a waiting read looks again: the store may be shared with other nodes, so it is asked, not told. */
const POLL_MS = 200;

export interface FeedRequest {
  readonly capability: string;
  readonly after: string | null;
  readonly limit: number;
  /** How long to wait for events when there are none yet; 0 answers at once. */
  readonly waitMs: number;
}

export async function readFeed(
  deps: { readonly feeds: FeedStore; readonly eventFeed: EventFeedReader },
  request: FeedRequest,
  signal?: AbortSignal,
): Promise<FeedPage> {
  const feed = isCapability(request.capability)
    ? await deps.feeds.feedByHash(hashCapability(request.capability))
    : null;
  // Unknown and revoked answer alike: the answer tells a guesser nothing.
  if (!feed || feed.revokedAt !== null)
    throw new AppError("NOT_FOUND", "no feed has this capability (unknown or revoked)");
  const filter = { originOnly: !feed.relay, servers: feed.servers };
  const deadline = Date.now() + Math.min(request.waitMs, MAX_WAIT_MS);
  for (;;) {
    const page = await deps.eventFeed.eventsAfter(request.after, request.limit, filter);
    if (page.events.length > 0 || page.next !== request.after || Date.now() >= deadline || signal?.aborted) {
      return page;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

/** An event as a feed sends it: the shape POST /v1/events takes, values as decimal strings (exact beyond 2^53). */
export function feedEventJson(e: UsageEvent) {
  return {
    id: e.id,
    server: e.server,
    time: isoTime(e.time),
    account: e.account,
    metric: e.metric,
    kind: e.kind,
    value: e.value.toString(),
    ...(e.instance === "" ? {} : { instance: e.instance }),
    ...(e.dims === null ? {} : { dims: e.dims }),
  };
}
