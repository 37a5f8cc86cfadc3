// Custom metrics over a real `tally serve`, on SQLite and on PostgreSQL: the kind is given once, by the first event
// stored or by the batch that names it, and later events may leave it out.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStore, goodEvent, killAll, removeDir, STORES, TallyServer, type TestStore, tempDir } from "./helpers.js";

const noKind = (field: string, metric: string, kindField: string) =>
  `${field} "${metric}" is not built in and has no stored kind: give its ${kindField} (in this event or another of the batch)`;

describe.each(STORES)("custom metrics on %s", (kind) => {
  let tally: TallyServer;
  let dir: string;
  let store: TestStore;

  beforeAll(async () => {
    dir = tempDir(`ingest-${kind}`);
    store = await freshStore(kind);
    tally = await TallyServer.start({ dataDir: dir, args: store.args });
  });
  afterAll(async () => {
    try {
      if (tally) expect(await tally.stop()).toEqual({ code: 0, signal: null });
    } finally {
      killAll();
      removeDir(dir);
      await store?.drop();
    }
  });

  it("accepts events without kind once the metric is stored, and refuses another kind naming both", async () => {
    expect(await tally.postNdjson([goodEvent({ metric: "disk.iops", kind: "counter", value: 3 })])).toMatchObject({
      accepted: 1,
    });
    const later = [goodEvent({ metric: "disk.iops", value: 4 }), goodEvent({ metric: "disk.iops", kind: "level" })];
    expect(await tally.postNdjson(later)).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [{ index: 1, id: later[1]?.id, reason: 'kind "level" contradicts disk.iops, stored as a counter' }],
    });
    // A CloudEvent leaves data.kind out the same way.
    const ce = { specversion: "1.0", id: "ce-1", source: "srv-e2e", time: "2026-11-23T12:00:00Z", subject: "AUTH_e2e" };
    const res = await tally.post(
      JSON.stringify({ ...ce, type: "disk.iops", data: { value: 5 } }),
      "application/cloudevents+json",
    );
    expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it("takes a new metric's kind from the batch that names it", async () => {
    const batch = [
      goodEvent({ metric: "vm.running", value: 1 }),
      goodEvent({ metric: "vm.running", kind: "state", value: 0, time: "2026-11-23T12:30:00Z" }),
      goodEvent({ metric: "vm.running", value: 2, time: "2026-11-23T12:40:00Z" }),
    ];
    expect(await tally.postNdjson(batch)).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [{ index: 2, id: batch[2]?.id, reason: "value must be 0 or 1 for a state" }],
    });
  });

  it("refuses an event of a metric nobody named, naming the metric, and stores nothing of it", async () => {
    const bad = goodEvent({ metric: "disk.unnamed" });
    expect(await tally.postNdjson([bad])).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [{ index: 0, id: bad.id, reason: noKind("metric", "disk.unnamed", "kind") }],
    });
    // Nothing stayed behind: the same (server, id) with its kind is new.
    expect(await tally.postNdjson([{ ...bad, kind: "level" }])).toMatchObject({ accepted: 1, duplicates: 0 });
  });
});
