import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UsageEvent } from "../domain/event.js";
import { HOUR_MS } from "../domain/time.js";
import { event } from "../store/contract-events.js";
import type { UsageStore } from "../store/port.js";
import { TEST_STORES } from "../store/test-stores.js";
import { startExportPool } from "./export-pool.js";
import { type ExportRequest, renderStarExport } from "./export-request.js";
import { type ExportOptions, exportParts, type PagePool, POOL_AFTER_PAGES } from "./export-star.js";
import { parseStarConfig } from "./star-config.js";

const DAY = 24 * HOUR_MS;
const D0 = Date.UTC(2026, 10, 1);
const at = (day: number, hour: number) => D0 + day * DAY + hour * HOUR_MS;
let n = 0;
const level = (account: string, metric: string, time: number, value: bigint, more: Partial<UsageEvent> = {}) =>
  event({ id: `p${n++}`, account, metric, kind: "level", time, value, ...more });

const NOW = Date.UTC(2026, 10, 5);
const REQUEST: ExportRequest = { from: at(0, 0), to: at(2, 0), period: "day", capacity: "end", format: "star-xml" };
// AUTH_07 is given AUTH_03's LocalUser, AUTH_11 and AUTH_12 one group: their records are summed, and come last.
const CONFIG = parseStarConfig({
  site: "SITE-A",
  accounts: {
    AUTH_07: { local_user: "AUTH_03" },
    AUTH_11: { group: "atlas", role: "production" },
    AUTH_12: { group: "atlas", role: "production" },
  },
});

/** Three times as many accounts as pages made before a pool starts, on two servers, with dims and directories. */
function usage(): UsageEvent[] {
  const events: UsageEvent[] = [];
  for (let a = 0; a < 3 * POOL_AFTER_PAGES; a++) {
    const account = `AUTH_${String(a).padStart(2, "0")}`;
    events.push(level(account, "storage.bytes", at(-1, a % 24), BigInt(a) * 2n ** 60n));
    events.push(level(account, "storage.files", at(0, 3), BigInt(a + 1), { server: "s2" }));
    events.push(level(account, "storage.bytes", at(1, 5), BigInt(a + 7), { server: "s2", dims: { share: "p1" } }));
    if (a % 4 === 0) events.push(level(account, "storage.bytes", at(0, 9), 3n, { instance: `/home/${account}` }));
    if (a % 5 === 0) events.push(level(account, "storage.logical_bytes", at(0, 1), 1n, { dims: { group: "cms" } }));
  }
  return events;
}

describe.each(TEST_STORES)("StAR export on several threads over %s", (_name, open) => {
  let store: UsageStore;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  it("writes the document one thread writes, in XML and JSON, by day and by hour", async () => {
    await store.insertEvents(usage());
    const render = async (request: ExportRequest, threads: number) => {
      const pieces: Uint8Array[] = [];
      for await (const piece of renderStarExport(store, request, CONFIG, NOW, { threads, pageAccounts: 1 })) {
        pieces.push(piece);
      }
      return Buffer.concat(pieces).toString("utf8");
    };
    for (const request of [
      REQUEST,
      { ...REQUEST, format: "star-json" as const },
      { ...REQUEST, period: "hour" as const, capacity: "average" as const, to: at(0, 6) },
    ]) {
      const one = await render(request, 1);
      expect(one).toContain("AUTH_29");
      expect(await render(request, 3)).toBe(one);
    }
    // The pages after the first few were made by the pool, written out there.
    const options: ExportOptions = { ...REQUEST, config: CONFIG, now: NOW, pageAccounts: 1 };
    const parts = [];
    for await (const part of exportParts(store, options, () => startExportPool(store, options, "star-xml", 2))) {
      parts.push(part);
    }
    const written = parts.filter((p) => p instanceof Uint8Array);
    expect(written).toHaveLength(3 * POOL_AFTER_PAGES - 3 - POOL_AFTER_PAGES);
    expect(Buffer.concat(written).toString("utf8")).not.toContain("AUTH_11");
  });

  it("closes a pool started for pages that never came", async () => {
    const few = usage().filter((e) => Number(e.account.slice("AUTH_".length)) < POOL_AFTER_PAGES - 2);
    await store.insertEvents(few);
    const options: ExportOptions = { ...REQUEST, config: CONFIG, now: NOW, pageAccounts: 1 };
    let started = 0;
    let closed = 0;
    const start = async (): Promise<PagePool> => {
      started++;
      const pool = await startExportPool(store, options, "star-xml", 1);
      return { run: pool.run, depth: pool.depth, close: () => pool.close().then(() => void closed++) };
    };
    const parts = [];
    for await (const part of exportParts(store, options, start)) parts.push(part);
    expect(parts.every((p) => Array.isArray(p))).toBe(true);
    expect([started, closed]).toEqual([1, 1]);
  });

  it("reads a server heard of after the pool started", async () => {
    await store.insertEvents([level("AUTH_a", "storage.bytes", at(0, 1), 5n)]);
    const options: ExportOptions = { ...REQUEST, config: CONFIG, now: NOW };
    const pool = await startExportPool(store, options, "star-xml", 1);
    try {
      await store.insertEvents([level("AUTH_a", "storage.bytes", at(0, 2), 6n, { server: "s9" })]);
      // A read waits for what was acknowledged to be derived, where the pool's thread reads it.
      await store.currentLevels({ metric: "storage.bytes", accounts: ["AUTH_a"] });
      const text = Buffer.from((await pool.run(["AUTH_a"])).bytes).toString("utf8");
      expect(text).toContain("<sr:StorageSystem>s9</sr:StorageSystem>");
      expect(text).toContain("<sr:StorageSystem>s1</sr:StorageSystem>");
    } finally {
      await pool.close();
    }
  });
});
