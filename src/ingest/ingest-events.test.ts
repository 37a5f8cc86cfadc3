import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UsageStore } from "../store/port.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { ingestEvents } from "./ingest-events.js";
import { parseEventBody } from "./parse-body.js";

const event = (id: string, overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    id,
    server: "srv-1",
    time: "2026-11-23T12:00:00Z",
    account: "AUTH_a",
    metric: "requests.get",
    value: 1,
    ...overrides,
  });

let store: UsageStore;

beforeEach(async () => {
  store = await openSqliteStore({ path: ":memory:", recentKeySlots: 1024 });
});

afterEach(async () => {
  await store.close();
});

const ingest = (lines: string[], gate?: Parameters<typeof ingestEvents>[2]) =>
  ingestEvents(store, parseEventBody(lines.join("\n"), "application/x-ndjson"), gate);

describe("ingestEvents", () => {
  it("stores the good lines of a mixed batch and reports each bad one by its index in the batch", async () => {
    const result = await ingest([
      event("a"),
      "{cut",
      event("b", { value: -1 }),
      event("c"),
      event("d", { metric: "disk.iops" }),
      event("e"),
    ]);
    expect(result).toEqual({
      accepted: 3,
      duplicates: 0,
      rejected: [
        { index: 1, reason: "line 2 is not valid JSON" },
        { index: 2, id: "b", reason: "value is negative; a counter cannot be" },
        {
          index: 4,
          id: "d",
          reason:
            'metric "disk.iops" is not built in and has no stored kind: give its kind (in this event or another of the batch)',
        },
      ],
    });
    expect((await store.stats()).events).toBe(3);
  });

  it("counts a re-sent event as a duplicate, in the same batch or a later one, and stores it once", async () => {
    expect(await ingest([event("a"), event("a"), event("b")])).toEqual({ accepted: 2, duplicates: 1, rejected: [] });
    expect(await ingest([event("b"), event("c")])).toEqual({ accepted: 1, duplicates: 1, rejected: [] });
    // The same id from another server is another event.
    expect(await ingest([event("a", { server: "srv-2" })])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect((await store.stats()).events).toBe(4);
  });

  it("reports what the store refuses (a kind contradicting the stored one) at the line's own index", async () => {
    await ingest([event("a", { metric: "disk.iops", kind: "level" })]);
    const result = await ingest(["oops", event("b"), event("c", { metric: "disk.iops", kind: "counter" })]);
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [
        { index: 0, reason: "line 1 is not valid JSON" },
        { index: 2, id: "c", reason: 'kind "counter" contradicts disk.iops, stored as a level' },
      ],
    });
  });

  it("refuses what the gate refuses, by index, and stores the rest", async () => {
    const gate = (e: { server: string }) => (e.server === "srv-1" ? null : `not ${e.server}`);
    const result = await ingest([event("a", { server: "srv-2" }), event("b")], gate);
    expect(result).toEqual({ accepted: 1, duplicates: 0, rejected: [{ index: 0, id: "a", reason: "not srv-2" }] });
    expect(await ingest([event("a", { server: "srv-2" })])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it("stores nothing for a batch of bad lines only", async () => {
    const result = await ingest(["1", event("x", { time: "yesterday" })]);
    expect(result.accepted).toBe(0);
    expect(result.rejected.map((r) => r.index)).toEqual([0, 1]);
    expect((await store.stats()).events).toBe(0);
  });
});
