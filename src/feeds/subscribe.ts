// Subscribing to another node's feed, unsubscribing, and how subscriptions are shown (never their capability).

import { randomBytes } from "node:crypto";
import { AppError, validation } from "../domain/errors.js";
import { hideCapability, parseFeedUrl } from "./capability.js";
import { type FeedStore, NEW_HEALTH, type SubscriptionRecord } from "./feed-store.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export async function subscribe(
  store: FeedStore,
  spec: { readonly url: string; readonly name?: string | null | undefined },
  now = Date.now(),
): Promise<SubscriptionRecord> {
  const url = parseFeedUrl(spec.url);
  const name = spec.name ?? url.host;
  if (!NAME.test(name)) {
    throw validation(
      `name "${name.slice(0, 40)}" must be 1 to 100 letters, digits, '.', '_', ':' or '-', from a letter or digit`,
    );
  }
  const existing = await store.listSubscriptions();
  const same = existing.find((s) => s.url === url.toString());
  if (same)
    throw new AppError("CONFLICT", `this node already subscribes to that feed, as ${JSON.stringify(same.name)}`);
  const record: SubscriptionRecord = {
    id: `sub_${randomBytes(8).toString("hex")}`,
    name,
    url: url.toString(),
    createdAt: now,
    health: NEW_HEALTH,
  };
  await store.insertSubscription(record);
  return record;
}

export async function unsubscribe(store: FeedStore, name: string): Promise<SubscriptionRecord> {
  const removed = await store.removeSubscription(name);
  if (!removed) throw new AppError("NOT_FOUND", `there is no subscription named ${JSON.stringify(name)}`);
  return removed;
}

/** A subscription as the API, the CLI and the usage page show it. Lag in seconds: since it last had everything. */
export function subscriptionJson(s: SubscriptionRecord, now = Date.now()) {
  const h = s.health;
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  const lagSeconds = h.state === "live" ? 0 : Math.floor((now - (h.caughtUpAt ?? s.createdAt)) / 1000);
  return {
    name: s.name,
    url: hideCapability(s.url),
    state: h.state,
    lastError: h.lastError,
    lagEvents: h.lagEvents,
    lagSeconds,
    lastSuccess: iso(h.lastSuccess),
    createdAt: iso(s.createdAt),
  };
}
