import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MetricKind } from "../domain/metric.js";
import { HOUR_MS } from "../domain/time.js";
import { event } from "../store/contract-events.js";
import type { UsageStore } from "../store/port.js";
import { TEST_STORES } from "../store/test-stores.js";
import { zeroCounters } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";
import { runSwiftStatsQuery } from "./run-query.js";
import { spaceDetail } from "./space-detail.js";

const H = (h: number, m = 0) => Date.UTC(2012, 9, 22, h, m);
let store: UsageStore;
let n = 0;

const put = (
  server: string,
  account: string,
  metric: string,
  kind: MetricKind,
  time: number,
  value: bigint,
  instance = "",
) => event({ id: `e${n++}`, server, account, metric, kind, time, value, instance });

const query = (
  method: SwiftStatsQuery["method"],
  from: number,
  to: number,
  account = "acc",
  fill: SwiftStatsQuery["fill"] = "none",
): SwiftStatsQuery => ({ method, account, fromHour: from, toHour: to, format: "json", fill });

describe.each(TEST_STORES)("swift-stats queries over %s", (_name, open) => {
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  describe("io_sum and io_detail", () => {
    beforeEach(async () => {
      await store.insertEvents([
        put("s1", "acc", "requests.get", "counter", H(8, 5), 2n),
        put("s2", "acc", "requests.get", "counter", H(8, 59), 3n),
        put("s1", "acc", "requests.put", "counter", H(9, 30), 1n, "bucket"),
        put("s1", "acc", "bytes.in", "counter", H(9, 31), 2n ** 64n),
        put("s2", "acc", "bytes.out", "counter", H(9, 32), 10n),
        put("s1", "acc", "requests.delete", "counter", H(10), 7n),
        put("s1", "acc", "requests.get", "counter", H(7, 59), 100n),
        put("s1", "other", "requests.get", "counter", H(8), 1000n),
        put("s1", "acc", "storage.bytes", "level", H(8), 5n),
      ]);
    });

    it("sums counters over servers and instances within [begin, end)", async () => {
      const sum = await runSwiftStatsQuery(store, query("io_sum", H(8), H(10)));
      expect(sum).toEqual({
        method: "io_sum",
        data: { ...zeroCounters(), GET: 5n, PUT: 1n, Bytes_In: 2n ** 64n, Bytes_Out: 10n },
      });
    });

    it("lists the hours with traffic", async () => {
      const detail = await runSwiftStatsQuery(store, query("io_detail", H(7), H(12)));
      expect(detail.data).toEqual([
        [H(7), { ...zeroCounters(), GET: 100n }],
        [H(8), { ...zeroCounters(), GET: 5n }],
        [H(9), { ...zeroCounters(), PUT: 1n, Bytes_In: 2n ** 64n, Bytes_Out: 10n }],
        [H(10), { ...zeroCounters(), DELETE: 7n }],
      ]);
    });

    it("gives every hour of the range up to now with fill=zero, zeros where there was no traffic", async () => {
      const detail = await runSwiftStatsQuery(store, query("io_detail", H(6), H(14), "acc", "zero"), H(11, 30));
      expect(detail.data).toEqual([
        [H(6), zeroCounters()],
        [H(7), { ...zeroCounters(), GET: 100n }],
        [H(8), { ...zeroCounters(), GET: 5n }],
        [H(9), { ...zeroCounters(), PUT: 1n, Bytes_In: 2n ** 64n, Bytes_Out: 10n }],
        [H(10), { ...zeroCounters(), DELETE: 7n }],
        [H(11), zeroCounters()],
      ]);
      const nobody = await runSwiftStatsQuery(store, query("io_detail", H(8), H(10), "nobody", "zero"), H(23));
      expect(nobody.data).toEqual([
        [H(8), zeroCounters()],
        [H(9), zeroCounters()],
      ]);
    });

    it("answers zeros for an account with nothing", async () => {
      expect((await runSwiftStatsQuery(store, query("io_sum", H(8), H(10), "nobody"))).data).toEqual(zeroCounters());
      expect((await runSwiftStatsQuery(store, query("io_detail", H(8), H(10), "nobody"))).data).toEqual([]);
    });
  });

  describe("space_detail", () => {
    const now = H(23);

    it("gives the level at each hour's start, summed, carried into hours without readings", async () => {
      await store.insertEvents([
        put("s1", "acc", "storage.bytes", "level", H(6, 10), 100n, "c1"),
        put("s1", "acc", "storage.bytes", "level", H(8, 20), 150n, "c1"),
        put("s1", "acc", "storage.bytes", "level", H(8, 40), 120n, "c1"),
        put("s2", "acc", "storage.bytes", "level", H(9, 0), 2n ** 64n, "c9"),
        put("s1", "acc", "storage.files", "level", H(7), 3n, "c1"),
        put("s1", "acc", "storage.containers", "level", H(5), 1n),
        put("s1", "acc", "storage.files", "level", H(12), 4n, "c1"),
        put("s1", "other", "storage.bytes", "level", H(8), 999n),
      ]);
      const result = await runSwiftStatsQuery(store, { ...query("space_detail", H(8), H(11)) }, now);
      // 08:20 and 08:40 count from 09:00 on; the reading made at 09:00 counts at 09:00.
      expect(result.data).toEqual([
        [H(8), { Space: 100n, Container: 1n, Object: 3n }],
        [H(9), { Space: 120n + 2n ** 64n, Container: 1n, Object: 3n }],
        [H(10), { Space: 120n + 2n ** 64n, Container: 1n, Object: 3n }],
      ]);
    });

    it("starts at the first instant at or after the account's first reading and stops now", async () => {
      await store.insertEvents([put("s1", "acc", "storage.bytes", "level", H(9, 30), 7n)]);
      const result = await spaceDetail(store, query("space_detail", H(6), H(14)), H(11, 15));
      expect(result.map(([h]) => (h - H(0)) / HOUR_MS)).toEqual([10, 11]);
      expect(result.every(([, s]) => s.Space === 7n)).toBe(true);
    });

    it("gives every instant of the range up to now with fill=previous, zeros before the first reading", async () => {
      await store.insertEvents([
        put("s1", "acc", "storage.bytes", "level", H(7, 30), 100n),
        put("s1", "acc", "storage.bytes", "level", H(8, 30), 200n),
      ]);
      const result = await spaceDetail(store, query("space_detail", H(6), H(14), "acc", "previous"), H(11, 15));
      expect(result.map(([h, s]) => [(h - H(0)) / HOUR_MS, s.Space])).toEqual([
        [6, 0n],
        [7, 0n],
        [8, 100n],
        [9, 200n],
        [10, 200n],
        [11, 200n],
      ]);
    });

    it("counts an hourly scan's reading made on the hour at that hour, at the range's ends too", async () => {
      await store.insertEvents([
        put("s1", "acc", "storage.files", "level", H(7), 4n, "c1"),
        put("s1", "acc", "storage.files", "level", H(8), 5n, "c1"),
        put("s1", "acc", "storage.files", "level", H(9), 5n, "c1"),
        put("s1", "acc", "storage.files", "level", H(11), 6n, "c1"),
        put("s1", "acc", "storage.bytes", "level", H(7, 30), 100n, "c1"),
        put("s1", "acc", "storage.bytes", "level", H(8, 30), 200n, "c1"),
      ]);
      const hours = async (from: number, to: number) =>
        (await spaceDetail(store, query("space_detail", from, to), now)).map(([h, s]) => [(h - H(0)) / HOUR_MS, s]);
      expect(await hours(H(6), H(9))).toEqual([
        [7, { Space: 0n, Container: 0n, Object: 4n }],
        [8, { Space: 100n, Container: 0n, Object: 5n }],
      ]);
      expect(await hours(H(8), H(9))).toEqual([[8, { Space: 100n, Container: 0n, Object: 5n }]]);
      expect(await hours(H(10), H(12))).toEqual([
        [10, { Space: 200n, Container: 0n, Object: 5n }],
        [11, { Space: 200n, Container: 0n, Object: 6n }],
      ]);
    });
  });
});
