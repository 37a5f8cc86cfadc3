// A custom metric's kind is given once: on SQLite and PostgreSQL alike, later events of it may leave the kind out.
// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { event } from "../store/contract-events.js";
import type { UsageStore } from "../store/port.js";
import { openPostgresStore } from "../store/postgres/postgres-store.js";
import { freshSchema, TEST_POSTGRES_URL, TEST_STORES } from "../store/test-stores.js";
import { ingestEvents } from "./ingest-events.js";
import { parseEventBody } from "./parse-body.js";

const url = TEST_POSTGRES_URL;

const line = (id: string, metric: string, overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    id,
    server: "srv-1",
    time: "2026-11-23T12:00:00Z",
    account: "AUTH_a",
    metric,
    value: 1,
    ...overrides,
  });

const noKind = (metric: string) =>
  `metric "${metric}" is not built in and has no stored kind: give its kind (in this event or another of the batch)`;

describe.each(TEST_STORES)("kinds left out of events, on %s", (_name, open) => {
  let store: UsageStore;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  const ingest = (lines: string[], gate?: Parameters<typeof ingestEvents>[2]) =>
    ingestEvents(store, parseEventBody(lines.join("\n"), "application/x-ndjson"), gate);
  const kindsOfRollups = async (metric: string) =>
    new Set((await store.allRollups()).filter((r) => r.metric === metric).map((r) => r.kind));

  it("accepts later events of a stored custom metric without their kind, and stores them with it", async () => {
    expect(await ingest([line("a", "disk.iops", { kind: "counter", value: 3 })])).toMatchObject({ accepted: 1 });
    expect(await ingest([line("b", "disk.iops", { value: 4 }), line("c", "disk.iops", { value: 5 })])).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [],
    });
    const rows = (await store.allRollups()).filter((r) => r.metric === "disk.iops");
    expect(rows.map((r) => [r.kind, r.sum])).toEqual([["counter", 12n]]);
  });

  it("refuses a later event giving another kind, naming both, and changes nothing", async () => {
    await ingest([line("a", "vm.running", { kind: "state" })]);
    const result = await ingest([line("b", "vm.running", { kind: "level", value: 7 }), line("c", "vm.running")]);
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [{ index: 0, id: "b", reason: 'kind "level" contradicts vm.running, stored as a state' }],
    });
    expect(await kindsOfRollups("vm.running")).toEqual(new Set(["state"]));
  });

  it("holds an event without kind to the stored kind's rules (a state is 0 or 1)", async () => {
    await ingest([line("a", "vm.running", { kind: "state" })]);
    expect(await ingest([line("b", "vm.running", { value: 2 })])).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [{ index: 0, id: "b", reason: "value must be 0 or 1 for a state" }],
    });
  });

  it("takes a new metric's kind from the batch that names it, before or after the events that leave it out", async () => {
    const result = await ingest([
      line("a", "disk.iops", { value: 1 }),
      line("b", "disk.iops", { kind: "level", value: 2, time: "2026-11-23T12:01:00Z" }),
      line("c", "disk.iops", { value: 3, time: "2026-11-23T12:02:00Z" }),
    ]);
    expect(result).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await store.metricKinds()).toMatchObject({ "disk.iops": "level" });
    expect(await kindsOfRollups("disk.iops")).toEqual(new Set(["level"]));
  });

  it("keeps the batch's first kind for a new metric and refuses a later one naming both kinds", async () => {
    const result = await ingest([
      line("a", "vm.running"),
      line("b", "vm.running", { kind: "state" }),
      line("c", "vm.running", { kind: "counter" }),
      line("d", "vm.running", { value: 0 }),
    ]);
    expect(result).toEqual({
      accepted: 3,
      duplicates: 0,
      rejected: [{ index: 2, id: "c", reason: 'kind "counter" contradicts vm.running, stored as a state' }],
    });
    expect(await store.metricKinds()).toMatchObject({ "vm.running": "state" });
  });

  it("does not take a kind from an event that is itself refused", async () => {
    const gate = (e: { server: string }) => (e.server === "srv-1" ? null : `not ${e.server}`);
    const result = await ingest(
      [
        line("a", "disk.iops", { kind: "counter", value: -1 }),
        line("b", "disk.iops", { kind: "level", server: "srv-2" }),
        line("c", "disk.iops"),
      ],
      gate,
    );
    expect(result).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [
        { index: 0, id: "a", reason: "value is negative; a counter cannot be" },
        { index: 1, id: "b", reason: "not srv-2" },
        { index: 2, id: "c", reason: noKind("disk.iops") },
      ],
    });
    expect(await store.metricKinds()).not.toHaveProperty("disk.iops");
    expect((await store.stats()).events).toBe(0);
  });

  it("refuses a metric neither built in, stored nor named in the batch, by line and name, and stores nothing", async () => {
    const result = await ingest([line("a", "requests.get"), line("b", "disk.iops"), line("c", "constructor")]);
    expect(result).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [
        { index: 1, id: "b", reason: noKind("disk.iops") },
        { index: 2, id: "c", reason: noKind("constructor") },
      ],
    });
    expect(Object.keys(await store.metricKinds())).toEqual(["requests.get"]);
  });

  it("asks the store again when a metric is missing from what it knew, as when another writer stored it", async () => {
    await ingest([line("a", "disk.iops", { kind: "counter" })]);
    expect(await ingest([line("b", "disk.iops")])).toMatchObject({ accepted: 1 });
    // Stored past this ingest's knowledge, as another node sharing the store would.
    await store.insertEvents([event({ id: "x", metric: "disk.latency", kind: "level", value: 9n })]);
    expect(await ingest([line("c", "disk.latency", { value: 8 })])).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [],
    });
    expect(await kindsOfRollups("disk.latency")).toEqual(new Set(["level"]));
  });
});

describe("kinds left out of events, on PostgreSQL shared by two nodes", () => {
  it("accepts on one node an event without kind of a metric another node stored", async () => {
    const schema = freshSchema();
    const a = await openPostgresStore({ url, schema });
    const b = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
    const ingest = (store: UsageStore, lines: string[]) =>
      ingestEvents(store, parseEventBody(lines.join("\n"), "application/x-ndjson"));
    try {
      await ingest(a, [line("a1", "disk.iops", { kind: "counter" })]);
      expect(await ingest(b, [line("b1", "disk.iops")])).toMatchObject({ accepted: 1, rejected: [] });
      await ingest(a, [line("a2", "vm.running", { kind: "state" })]);
      expect(await ingest(b, [line("b2", "vm.running"), line("b3", "vm.running", { kind: "level" })])).toEqual({
        accepted: 1,
        duplicates: 0,
        rejected: [{ index: 1, id: "b3", reason: 'kind "level" contradicts vm.running, stored as a state' }],
      });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
