// The shared suite every UsageStore adapter runs: the same behaviour whichever store Tally is on. Its rollup tests
// are in rollup-contract.ts, the events they all use in contract-events.ts.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HOUR_MS } from "../domain/time.js";
import { event, T0 } from "./contract-events.js";
import type { UsageStore } from "./port.js";
import { describeRollupContract } from "./rollup-contract.js";

export function describeUsageStoreContract(open: () => Promise<UsageStore>): void {
  let store: UsageStore;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  describe("insertEvents", () => {
    it("accepts new events and counts duplicates within a batch and across batches", async () => {
      const a = event({ id: "e1" });
      const b = event({ id: "e2", value: 5n });
      expect(await store.insertEvents([a, b, a])).toEqual({ accepted: 2, duplicates: 1, rejected: [] });
      expect(await store.insertEvents([a, event({ id: "e3" })])).toEqual({ accepted: 1, duplicates: 1, rejected: [] });
      expect((await store.stats()).events).toBe(3);
      // The rollup counts what was stored, once: e1, e2 and e3, not e1 again.
      expect((await store.allRollups()).map((r) => [r.count, r.sum])).toEqual([[3, 7n]]);
    });

    it("treats a re-sent id as a duplicate even when its content differs, and changes nothing", async () => {
      await store.insertEvents([event({ id: "e1", value: 7n })]);
      const again = await store.insertEvents([event({ id: "e1", value: 1000n, time: T0 + 5 * HOUR_MS })]);
      expect(again).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
      const rows = await store.allRollups();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.sum).toBe(7n);
    });

    it("scopes ids to their server", async () => {
      const out = await store.insertEvents([event({ id: "same", server: "s1" }), event({ id: "same", server: "s2" })]);
      expect(out.accepted).toBe(2);
    });

    it("keeps values beyond 2^64 exact", async () => {
      const huge = 345876451382054092800n;
      await store.insertEvents([
        event({ id: "l1", metric: "storage.bytes", kind: "level", value: huge }),
        event({ id: "c1", value: huge }),
        event({ id: "c2", value: huge, time: T0 + 1 }),
      ]);
      const [level] = await store.currentLevels({ metric: "storage.bytes" });
      expect(level?.value).toBe(huge);
      const counter = (await store.allRollups()).find((r) => r.metric === "requests.get");
      expect(counter?.sum).toBe(2n * huge);
    });

    it("keeps names exactly, whatever characters they hold", async () => {
      const odd = ['a "quoted" \\ name', "{braces},comma", "NULL", " spaced ", "ünï"];
      await store.insertEvents(
        odd.map((name, i) =>
          event({
            id: `${name}#${i}`,
            server: `s ${name}`,
            account: name,
            instance: name,
            metric: "storage.bytes",
            kind: "level",
          }),
        ),
      );
      const levels = await store.currentLevels({ metric: "storage.bytes", accounts: odd });
      expect(levels.map((l) => [l.server, l.account, l.instance]).sort()).toEqual(
        odd.map((name) => [`s ${name}`, name, name]).sort(),
      );
      expect(
        await store.insertEvents(odd.map((name, i) => event({ id: `${name}#${i}`, server: `s ${name}` }))),
      ).toEqual({ accepted: 0, duplicates: odd.length, rejected: [] });
    });

    it("rejects an event whose custom metric contradicts the kind it was first stored with", async () => {
      await store.insertEvents([event({ id: "x1", metric: "custom.thing", kind: "level" })]);
      const out = await store.insertEvents([
        event({ id: "x2", metric: "custom.thing", kind: "counter" }),
        event({ id: "x3", metric: "custom.thing", kind: "level", value: 4n }),
      ]);
      expect(out.accepted).toBe(1);
      expect(out.rejected).toEqual([{ index: 0, reason: expect.stringContaining("custom.thing") }]);
      expect(await store.metricKinds()).toMatchObject({ "custom.thing": "level" });
    });

    it("rejects a batch mixing kinds for a new custom metric, keeping the first kind", async () => {
      const out = await store.insertEvents([
        event({ id: "y1", metric: "custom.new", kind: "state", value: 1n }),
        event({ id: "y2", metric: "custom.new", kind: "counter" }),
      ]);
      expect(out.accepted).toBe(1);
      expect(out.rejected.map((r) => r.index)).toEqual([1]);
    });
  });

  describe("rollups", () => describeRollupContract(() => store, open));

  describe("queries", () => {
    it("answers current levels per server, account and instance, filtered", async () => {
      const level = (id: string, server: string, account: string, instance: string, t: number, v: bigint) =>
        event({ id, server, account, instance, metric: "storage.bytes", kind: "level", time: T0 + t, value: v });
      await store.insertEvents([
        level("1", "s1", "a", "", 0, 5n),
        level("2", "s1", "a", "", 10, 6n),
        level("3", "s1", "a", "", 5, 99n),
        level("4", "s2", "a", "b1", 0, 7n),
        level("5", "s2", "b", "", 0, 8n),
      ]);
      const all = await store.currentLevels({ metric: "storage.bytes" });
      expect(all.map((l) => [l.server, l.account, l.instance, l.value, l.time - T0])).toEqual([
        ["s1", "a", "", 6n, 10],
        ["s2", "a", "b1", 7n, 0],
        ["s2", "b", "", 8n, 0],
      ]);
      const some = await store.currentLevels({ metric: "storage.bytes", accounts: ["a"], servers: ["s2"] });
      expect(some.map((l) => l.value)).toEqual([7n]);
      expect(await store.currentLevels({ metric: "storage.files" })).toEqual([]);
    });

    it("answers rollups for one account over a range of hours", async () => {
      await store.insertEvents([
        event({ id: "1", account: "a", time: T0 }),
        event({ id: "2", account: "a", time: T0 + HOUR_MS, server: "s2" }),
        event({ id: "3", account: "a", time: T0 + 2 * HOUR_MS }),
        event({ id: "4", account: "b", time: T0 + HOUR_MS }),
        event({ id: "5", account: "a", time: T0 + HOUR_MS, metric: "bytes.in", value: 100n }),
      ]);
      const rows = await store.rollups({ account: "a", from: T0 + HOUR_MS, to: T0 + 2 * HOUR_MS });
      expect(rows.map((r) => [r.server, r.metric, r.hour - T0])).toEqual([
        ["s1", "bytes.in", HOUR_MS],
        ["s2", "requests.get", HOUR_MS],
      ]);
      const only = await store.rollups({
        account: "a",
        from: T0,
        to: T0 + 3 * HOUR_MS,
        metrics: ["requests.get"],
        servers: ["s1"],
      });
      expect(only.map((r) => r.hour - T0)).toEqual([0, 2 * HOUR_MS]);
    });

    it("lists servers with when each was last heard from", async () => {
      const before = Date.now();
      await store.insertEvents([event({ id: "1", server: "s2" }), event({ id: "2", server: "s1", time: T0 + 9 })]);
      await store.insertEvents([event({ id: "3", server: "s1", time: T0 + 5 })]);
      const servers = await store.servers();
      expect(servers.map((s) => [s.server, s.lastEventTime - T0, s.events])).toEqual([
        ["s1", 9, 2],
        ["s2", 0, 1],
      ]);
      for (const s of servers) expect(s.lastHeard).toBeGreaterThanOrEqual(before - 1000);
    });
  });
}
