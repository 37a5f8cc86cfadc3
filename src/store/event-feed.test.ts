// The feed read port and source positions, on both stores: commit order, paging, filters, exact values.

import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { UsageEvent } from "../domain/event.js";
import type { FeedFilter, UsageStore } from "./port.js";
import { openPostgresStore } from "./postgres/postgres-store.js";
import { freshSchema, TEST_POSTGRES_URL, TEST_STORES } from "./test-stores.js";

const ALL: FeedFilter = { originOnly: false, servers: null };
const ORIGIN: FeedFilter = { originOnly: true, servers: null };

function event(server: string, id: string, value: bigint, extra: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id,
    server,
    time: Date.UTC(2026, 0, 1) + Number(value % 1000n),
    account: "acct",
    metric: "requests.get",
    kind: "counter",
    value,
    instance: "",
    dims: null,
    ...extra,
  };
}

/** Every event after `cursor`, page by page. */
async function readAll(store: UsageStore, filter: FeedFilter, limit = 3, cursor: string | null = null) {
  const seen: UsageEvent[] = [];
  for (let pages = 0; pages < 1000; pages++) {
    const page = await store.eventsAfter(cursor, limit, filter);
    seen.push(...page.events);
    cursor = page.next;
    if (!page.more) return { events: seen, cursor };
  }
  throw new Error("the feed never ended");
}

describe.each(TEST_STORES)("the event feed on %s", (_name, open) => {
  let store: UsageStore;
  afterEach(async () => store?.close());

  it("serves the stored events in the order they were stored, page by page, exactly", async () => {
    store = await open();
    const huge = 2n ** 70n + 7n;
    await store.insertEvents([event("s1", "a", 1n), event("s2", "b", huge, { dims: { region: "eu" } })]);
    await store.insertEvents([event("s1", "a", 1n), event("s1", "c", 3n)]); // a is a duplicate
    // Batches come in the order they committed; within one, in the order the adapter stored them (here the same).
    await store.insertEvents([
      event("s1", "e", 5n),
      event("s2", "d", 4n, { metric: "storage.bytes", kind: "level", instance: "bucket" }),
    ]);
    const { events, cursor } = await readAll(store, ALL, 2);
    expect(events.map((e) => `${e.server}/${e.id}`)).toEqual(["s1/a", "s2/b", "s1/c", "s1/e", "s2/d"]);
    expect(events[1]).toEqual(event("s2", "b", huge, { dims: { region: "eu" } }));
    expect(events[4]).toEqual(event("s2", "d", 4n, { metric: "storage.bytes", kind: "level", instance: "bucket" }));
    // Nothing new: the same cursor, no more.
    const idle = await store.eventsAfter(cursor, 10, ALL);
    expect(idle).toMatchObject({ events: [], next: cursor, more: false, remaining: 0 });
    await store.insertEvents([event("s1", "f", 6n)]);
    expect((await store.eventsAfter(cursor, 10, ALL)).events.map((e) => e.id)).toEqual(["f"]);
  });

  it("commits a source's position with its events, marks them received, and filters by origin and server", async () => {
    store = await open();
    expect(await store.sourcePosition("sub_x")).toBeNull();
    await store.insertEvents([event("here", "1", 1n)]);
    const outcome = await store.insertEvents([event("far", "1", 2n), event("far", "2", 3n)], {
      source: { name: "sub_x", position: "p2", after: null },
    });
    expect(outcome.accepted).toBe(2);
    expect(await store.sourcePosition("sub_x")).toBe("p2");
    // An empty batch still moves the position (a page whose events the upstream filter skipped).
    await store.insertEvents([], { source: { name: "sub_x", position: "p3", after: "p2" } });
    expect(await store.sourcePosition("sub_x")).toBe("p3");
    // A batch of duplicates too.
    await store.insertEvents([event("far", "1", 2n)], { source: { name: "sub_x", position: "p4", after: "p3" } });
    expect(await store.sourcePosition("sub_x")).toBe("p4");
    // A batch read after a position the source has left (another node stored that page first) changes nothing.
    for (const after of [null, "p3"]) {
      await expect(
        store.insertEvents([event("far", "9", 9n)], { source: { name: "sub_x", position: "p9", after } }),
      ).rejects.toMatchObject({ code: "CONFLICT" });
    }
    expect(await store.sourcePosition("sub_x")).toBe("p4");
    await store.insertEvents([event("here", "2", 4n)]);

    expect((await readAll(store, ALL)).events.map((e) => `${e.server}/${e.id}`)).toEqual([
      "here/1",
      "far/1",
      "far/2",
      "here/2",
    ]);
    expect((await readAll(store, ORIGIN, 1)).events.map((e) => `${e.server}/${e.id}`)).toEqual(["here/1", "here/2"]);
    expect(
      (await readAll(store, { originOnly: false, servers: ["far"] }, 1)).events.map((e) => `${e.server}/${e.id}`),
    ).toEqual(["far/1", "far/2"]);
  });

  it("refuses a cursor it did not make", async () => {
    store = await open();
    await expect(store.eventsAfter("not a cursor", 10, ALL)).rejects.toMatchObject({ code: "VALIDATION" });
  });
});

describe("the event feed on PostgreSQL with writers on several connections", () => {
  it("never serves past a transaction that took its sequence earlier but commits later", async () => {
    const schema = freshSchema();
    const store = await openPostgresStore({ url: TEST_POSTGRES_URL, schema, dropSchemaOnClose: true });
    const slow = new pg.Client({ connectionString: TEST_POSTGRES_URL, options: `-c search_path=${schema}` });
    await slow.connect();
    try {
      await store.insertEvents([event("s", "first", 1n)]);
      const start = await store.eventsAfter(null, 10, ALL);
      expect(start.events.map((e) => e.id)).toEqual(["first"]);
      // A writer that takes its transaction id and sequence number now and commits later, as a slow node would.
      await store.insertEvents([event("s", "series", 0n)]); // creates the series the slow writer uses
      const seen = (await store.eventsAfter(start.next, 10, ALL)).events.map((e) => e.id);
      const after = (await store.eventsAfter(start.next, 10, ALL)).next;
      expect(seen).toEqual(["series"]);
      await slow.query("BEGIN");
      await slow.query(
        `INSERT INTO events (series_id, server, id, time, value)
         SELECT id, 's', 'slow', 0, 10 FROM series LIMIT 1`,
      );
      // A second writer commits after it.
      await store.insertEvents([event("s", "fast", 2n)]);
      const during = await store.eventsAfter(after, 10, ALL);
      expect(during.events.map((e) => e.id)).toEqual([]);
      expect(during.next).toBe(after);
      await slow.query("COMMIT");
      const later = await store.eventsAfter(after, 10, ALL);
      expect(later.events.map((e) => e.id)).toEqual(["slow", "fast"]);
    } finally {
      await slow.end();
      await store.close();
    }
  });
});
