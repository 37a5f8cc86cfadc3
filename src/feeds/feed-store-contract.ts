// The shared suite every FeedStore adapter runs, with the feed and subscription use cases over it.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventFeedReader, EventLog } from "../store/port.js";
import { feedUrl, hashCapability, parseFeedUrl } from "./capability.js";
import type { FeedStore } from "./feed-store.js";
import { readFeed } from "./read-feed.js";
import { revokeFeed, shareFeed } from "./share-feed.js";
import { subscribe, subscriptionJson, unsubscribe } from "./subscribe.js";

export interface OpenedFeedStore {
  readonly feeds: FeedStore;
  readonly events: EventLog;
  readonly eventFeed: EventFeedReader;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 10, 1);

export function describeFeedStoreContract(open: () => Promise<OpenedFeedStore>): void {
  let opened: OpenedFeedStore;
  let store: FeedStore;
  beforeEach(async () => {
    opened = await open();
    store = opened.feeds;
  });
  afterEach(async () => {
    await opened.close();
  });

  describe("feeds", () => {
    it("shows a capability of 256 bits once, keeps only its hash, and finds the feed by that hash", async () => {
      const a = await shareFeed(store, { note: "friend", servers: ["s2", "s1", "s1"] }, T0);
      const b = await shareFeed(store, { relay: true }, T0 + 1);
      expect(a.capability).toMatch(/^tfc_[A-Za-z0-9_-]{43}$/);
      expect(a.capability).not.toBe(b.capability);
      expect(await store.listFeeds()).toEqual([
        { id: a.feed.id, note: "friend", servers: ["s1", "s2"], relay: false, createdAt: T0, revokedAt: null },
        { id: b.feed.id, note: "", servers: null, relay: true, createdAt: T0 + 1, revokedAt: null },
      ]);
      expect(JSON.stringify(await store.listFeeds())).not.toContain(a.capability.slice(4));
      expect(await store.feedByHash(hashCapability(a.capability))).toEqual(a.feed);
      expect(await store.feedByHash(hashCapability(`${a.capability}x`))).toBeNull();
    });

    it("revokes once, keeps the first time, and says NOT_FOUND for an unknown id", async () => {
      const { feed, capability } = await shareFeed(store, {}, T0);
      expect((await revokeFeed(store, feed.id, T0 + 5)).revokedAt).toBe(T0 + 5);
      expect((await revokeFeed(store, feed.id, T0 + 9)).revokedAt).toBe(T0 + 5);
      expect((await store.feedByHash(hashCapability(capability)))?.revokedAt).toBe(T0 + 5);
      await expect(revokeFeed(store, "feed_nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("reads a feed by its capability only: unknown and revoked capabilities are NOT_FOUND alike", async () => {
      const { feed, capability } = await shareFeed(store, {});
      await opened.events.insertEvents([
        {
          id: "1",
          server: "s",
          time: T0,
          account: "a",
          metric: "requests.get",
          kind: "counter",
          value: 5n,
          instance: "",
          dims: null,
        },
      ]);
      const deps = { feeds: store, eventFeed: opened.eventFeed };
      const page = await readFeed(deps, { capability, after: null, limit: 10, waitMs: 0 });
      expect(page.events.map((e) => e.id)).toEqual(["1"]);
      for (const bad of ["tfc_short", `tfc_${"A".repeat(43)}`, "../etc"]) {
        await expect(readFeed(deps, { capability: bad, after: null, limit: 10, waitMs: 0 })).rejects.toMatchObject({
          code: "NOT_FOUND",
        });
      }
      await revokeFeed(store, feed.id);
      await expect(readFeed(deps, { capability, after: null, limit: 10, waitMs: 0 })).rejects.toMatchObject({
        code: "NOT_FOUND",
        message: "no feed has this capability (unknown or revoked)",
      });
    });

    it("holds a caught-up read until an event comes, then answers it", async () => {
      const { capability } = await shareFeed(store, {});
      const deps = { feeds: store, eventFeed: opened.eventFeed };
      const started = Date.now();
      const waiting = readFeed(deps, { capability, after: null, limit: 10, waitMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await opened.events.insertEvents([
        {
          id: "late",
          server: "s",
          time: T0,
          account: "a",
          metric: "requests.get",
          kind: "counter",
          value: 1n,
          instance: "",
          dims: null,
        },
      ]);
      const page = await waiting;
      expect(page.events.map((e) => e.id)).toEqual(["late"]);
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });

  describe("feed URLs", () => {
    it("keeps the public URL's path, and reads back as a subscription URL", () => {
      const capability = `tfc_${"b".repeat(43)}`;
      expect(feedUrl("https://t.example.org/tally", capability)).toBe(
        `https://t.example.org/tally/v1/feed/${capability}`,
      );
      expect(feedUrl("http://127.0.0.1:8124/", capability)).toBe(`http://127.0.0.1:8124/v1/feed/${capability}`);
      expect(parseFeedUrl(feedUrl("https://t.example.org/tally", capability)).pathname).toBe(
        `/tally/v1/feed/${capability}`,
      );
    });
  });

  describe("subscriptions", () => {
    const url = `http://127.0.0.1:8124/v1/feed/tfc_${"a".repeat(43)}`;

    it("subscribes by URL, names it by host by default, hides the capability, and lists by name", async () => {
      const first = await subscribe(store, { url }, T0);
      expect(first.name).toBe("127.0.0.1:8124");
      expect(first.id).toMatch(/^sub_[0-9a-f]{16}$/);
      await subscribe(store, { url: url.replace("8124", "8125"), name: "alpha" }, T0);
      expect((await store.listSubscriptions()).map((s) => s.name)).toEqual(["127.0.0.1:8124", "alpha"]);
      const shown = subscriptionJson(first, T0 + 2000);
      expect(shown).toMatchObject({ url: "http://127.0.0.1:8124/v1/feed/tfc_…", state: "new", lagSeconds: 2 });
    });

    it("refuses a taken name or a feed subscribed already (CONFLICT), and bad URLs and names (VALIDATION)", async () => {
      await subscribe(store, { url, name: "a" });
      await expect(subscribe(store, { url: url.replace("8124", "1"), name: "a" })).rejects.toMatchObject({
        code: "CONFLICT",
      });
      await expect(subscribe(store, { url, name: "b" })).rejects.toMatchObject({ code: "CONFLICT" });
      for (const bad of [
        "not a url",
        `ftp://h/v1/feed/tfc_${"a".repeat(43)}`,
        "http://h/v1/other",
        `http://h/v1/feed/tfc_${"a".repeat(43)}?x=1`,
        `http://u:p@h/v1/feed/tfc_${"a".repeat(43)}`,
      ]) {
        await expect(subscribe(store, { url: bad, name: "c" })).rejects.toMatchObject({ code: "VALIDATION" });
      }
      await expect(subscribe(store, { url: url.replace("8124", "2"), name: "bad name" })).rejects.toMatchObject({
        code: "VALIDATION",
      });
      expect((await store.listSubscriptions()).map((s) => s.name)).toEqual(["a"]);
    });

    it("records health, and unsubscribes (NOT_FOUND when there is no such name)", async () => {
      const s = await subscribe(store, { url, name: "a" }, T0);
      const health = {
        state: "failing" as const,
        lastError: "HTTP 404",
        lastSuccess: T0 + 1,
        lagEvents: 7,
        caughtUpAt: T0,
      };
      await store.recordHealth(s.id, health);
      expect((await store.listSubscriptions())[0]?.health).toEqual(health);
      expect((await unsubscribe(store, "a")).id).toBe(s.id);
      await expect(unsubscribe(store, "a")).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect(await store.listSubscriptions()).toEqual([]);
    });
  });
}
