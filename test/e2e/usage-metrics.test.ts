// Which metric each usage view shows, over a real `tally serve` on SQLite and on PostgreSQL: /usage refuses what is
// not a level, naming the levels there are, and /usage/states shows which accounts have a state on.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStore, goodEvent, killAll, removeDir, STORES, TallyServer, type TestStore, tempDir } from "./helpers.js";

const LEVELS = "disk.used, storage.bytes, storage.containers, storage.files, storage.reserved";

describe.each(STORES)("usage metrics on %s", (kind) => {
  let tally: TallyServer;
  let dir: string;
  let store: TestStore;

  beforeAll(async () => {
    dir = tempDir(`usage-metrics-${kind}`);
    store = await freshStore(kind);
    tally = await TallyServer.start({ dataDir: dir, args: store.args });
    const at = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    expect(
      await tally.postNdjson([
        goodEvent({ metric: "storage.bytes", account: "a", value: 10, time: at(5) }),
        goodEvent({ metric: "disk.used", kind: "level", account: "a", value: 3, time: at(5) }),
        goodEvent({ metric: "vm.running", kind: "state", account: "a", value: 1, time: at(5) }),
        goodEvent({ metric: "vm.running", account: "b", value: 1, time: at(5) }),
        goodEvent({ metric: "vm.running", account: "b", value: 0, time: at(1) }),
        goodEvent({ metric: "requests.get", account: "a", value: 1, time: at(5) }),
      ]),
    ).toMatchObject({ accepted: 6, rejected: [] });
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

  it("refuses /usage for a counter, a state and an unknown metric in JSON, CSV and HTML", async () => {
    const cases = [
      ["requests.get", 'metric "requests.get" is a counter, not a level'],
      ["vm.running", 'metric "vm.running" is a state, not a level (see /usage/states?metric=vm.running)'],
      ["nope.metric", 'metric "nope.metric" is neither built in nor stored'],
    ] as const;
    for (const [metric, start] of cases) {
      const message = `${start}; the usage table shows level metrics: ${LEVELS}`;
      for (const format of ["json", "csv"]) {
        const res = await tally.get(`/usage?metric=${metric}&format=${format}`);
        expect(res.status, `${metric} ${format}`).toBe(400);
        expect(res.body).toEqual({ error: { code: "VALIDATION", message } });
      }
      const page = await tally.get(`/usage?metric=${metric}&format=html`);
      expect(page.status).toBe(400);
      expect(page.body).toContain(message.replaceAll('"', "&quot;"));
    }
    const custom = await tally.get("/usage?metric=disk.used&format=json");
    expect(custom.status).toBe(200);
    expect(custom.body).toMatchObject({ totals: { total: "3" } });
  });

  it("shows which accounts have a state on, per server", async () => {
    const res = await tally.get("/usage/states?metric=vm.running&format=json");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      metric: "vm.running",
      servers: ["srv-e2e"],
      rows: [
        { account: "a", petname: null, on_by_server: { "srv-e2e": 1 } },
        { account: "b", petname: null, on_by_server: { "srv-e2e": 0 } },
      ],
      totals: { accounts_on_by_server: { "srv-e2e": 1 } },
      next: null,
    });
    const level = await tally.get("/usage/states?metric=storage.bytes&format=json");
    expect(level.status).toBe(400);
    expect(level.body).toEqual({
      error: {
        code: "VALIDATION",
        message:
          'metric "storage.bytes" is a level, not a state (see /usage?metric=storage.bytes); ' +
          "the states view shows state metrics: vm.running",
      },
    });
  });
});
