// Sharing a feed: a new capability (shown once, stored as a hash), listing feeds, and revoking one.

import { AppError, validation } from "../domain/errors.js";
import { hashCapability, newCapability, newFeedId } from "./capability.js";
import type { FeedRecord, FeedStore } from "./feed-store.js";

export interface FeedSpec {
  readonly note?: string | null | undefined;
  readonly servers?: readonly string[] | null | undefined;
  readonly relay?: boolean | null | undefined;
}

const MAX_NOTE_CHARS = 1000;
const MAX_SERVERS = 1000;
const MAX_NAME_BYTES = 256;

export async function shareFeed(
  store: FeedStore,
  spec: FeedSpec,
  now = Date.now(),
): Promise<{ feed: FeedRecord; capability: string }> {
  const note = spec.note ?? "";
  if (note.length > MAX_NOTE_CHARS) throw validation(`note is longer than ${MAX_NOTE_CHARS} characters`);
  const servers = spec.servers && spec.servers.length > 0 ? [...new Set(spec.servers)].sort() : null;
  if (servers && servers.length > MAX_SERVERS) throw validation(`servers names more than ${MAX_SERVERS} servers`);
  for (const s of servers ?? []) {
    if (s === "" || Buffer.byteLength(s) > MAX_NAME_BYTES) {
      throw validation(`server "${s.slice(0, 40)}" must be 1 to ${MAX_NAME_BYTES} bytes`);
    }
  }
  const feed: FeedRecord = {
    id: newFeedId(),
    note,
    servers,
    relay: spec.relay === true,
    createdAt: now,
    revokedAt: null,
  };
  const capability = newCapability();
  await store.insertFeed(feed, hashCapability(capability));
  return { feed, capability };
}

export async function revokeFeed(store: FeedStore, id: string, now = Date.now()): Promise<FeedRecord> {
  const feed = await store.revokeFeed(id, now);
  if (!feed) throw new AppError("NOT_FOUND", `there is no feed ${JSON.stringify(id)}`);
  return feed;
}

/** The public face of a feed: never its capability or hash. */
export function feedJson(feed: FeedRecord) {
  return {
    id: feed.id,
    note: feed.note,
    servers: feed.servers,
    carries: feed.relay ? "origin and relayed" : "origin",
    createdAt: new Date(feed.createdAt).toISOString(),
    revokedAt: feed.revokedAt === null ? null : new Date(feed.revokedAt).toISOString(),
  };
}
