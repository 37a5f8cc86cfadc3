import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { UsageEvent } from "../domain/event.js";
import { HOUR_MS } from "../domain/time.js";
import { event } from "../store/contract-events.js";
import type { UsageStore } from "../store/port.js";
import { TEST_STORES } from "../store/test-stores.js";
import { type ExportOptions, exportStarRecords } from "./export-star.js";
import type { StarRecord } from "./star.js";
import { parseStarConfig } from "./star-config.js";

const DAY = 24 * HOUR_MS;
const D0 = Date.UTC(2026, 10, 1);
const at = (day: number, hour: number) => D0 + day * DAY + hour * HOUR_MS;
let n = 0;
const level = (account: string, metric: string, time: number, value: bigint, more: Partial<UsageEvent> = {}) =>
  event({ id: `e${n++}`, account, metric, kind: "level", time, value, ...more });

async function all(store: UsageStore, options: Partial<ExportOptions> = {}): Promise<StarRecord[]> {
  const out: StarRecord[] = [];
  for await (const r of exportStarRecords(store, {
    from: at(0, 0),
    to: at(2, 0),
    period: "day",
    capacity: "end",
    config: parseStarConfig({}),
    now: Date.UTC(2026, 10, 5),
    ...options,
  })) {
    out.push(r);
  }
  return out;
}

describe.each(TEST_STORES)("StAR export over %s", (_name, open) => {
  let store: UsageStore;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  it("gives one record per day and identity: the level at the end or its time-weighted average, files, reserved", async () => {
    await store.insertEvents([
      level("AUTH_a", "storage.bytes", at(0, 6), 100n),
      level("AUTH_a", "storage.bytes", at(0, 18), 300n),
      level("AUTH_a", "storage.files", at(0, 6), 10n),
      level("AUTH_a", "storage.reserved", at(0, 0), 2n ** 70n),
    ]);
    const end = await all(store);
    expect(end).toHaveLength(2);
    expect(end[0]).toMatchObject({
      storageSystem: "s1",
      startTime: at(0, 0),
      endTime: at(1, 0),
      resourceCapacityUsed: 300n,
      fileCount: 10n,
      resourceCapacityAllocated: 2n ** 70n,
      subject: { localUser: "AUTH_a" },
      createTime: Date.UTC(2026, 10, 5),
    });
    expect(end[1]).toMatchObject({ startTime: at(1, 0), resourceCapacityUsed: 300n, fileCount: 10n });
    const average = await all(store, { capacity: "average" });
    // 100 for 12 hours, 300 for the last 6: 3,000 byte-days / 24.
    expect(average[0]).toMatchObject({ resourceCapacityUsed: 125n, fileCount: 7n });
    expect(average[1]).toMatchObject({ resourceCapacityUsed: 300n });
    // The same interval gives the same ids, whenever it is exported.
    const again = await all(store, { now: Date.now() });
    expect(again.map((r) => r.recordId)).toEqual(end.map((r) => r.recordId));
    expect(new Set(end.map((r) => r.recordId)).size).toBe(2);
    const hours = await all(store, { period: "hour", from: at(0, 17), to: at(0, 20) });
    expect(hours.map((r) => r.resourceCapacityUsed)).toEqual([100n, 300n, 300n]);
  });

  it("gives the ids earlier releases gave: a receiver replaces by id", async () => {
    await store.insertEvents([
      level("AUTH_a", "storage.bytes", at(0, 1), 5n, {
        instance: "/data",
        dims: { site: "X", group: "cms", role: "prod" },
      }),
      level("AUTH_b", "storage.bytes", at(0, 1), 7n, { server: "s2" }),
    ]);
    const config = parseStarConfig({ accounts: { AUTH_b: { group: "atlas", local_user: "bee" } } });
    const records = await all(store, { to: at(1, 0), config });
    expect(records.map((r) => r.recordId)).toEqual([
      "s1/20261101T000000Z/aa3c9cbdde31029cda61f052",
      "s2/20261101T000000Z/22146108976232b5b34193ac",
    ]);
  });

  it("maps accounts to identities, sums accounts of one identity, and takes places from dims or the servers", async () => {
    await store.insertEvents([
      level("AUTH_c", "storage.bytes", at(0, 1), 5n),
      level("AUTH_d", "storage.bytes", at(0, 2), 7n, { server: "s2" }),
      level("AUTH_e", "storage.bytes", at(0, 2), 11n, { server: "s2" }),
      level("AUTH_u", "storage.bytes", at(0, 3), 1n, { instance: "/home/u" }),
      level("AUTH_u", "storage.bytes", at(0, 3), 2n, { instance: "bucket" }),
      level("AUTH_u", "storage.logical_bytes", at(0, 3), 1n, { instance: "bucket" }),
    ]);
    const config = parseStarConfig({
      site: "SITE-A",
      servers: { s2: { site: "SITE-B", share: "pool-1", media: "tape", class: "custodial" } },
      accounts: {
        AUTH_d: { group: "cms", role: "production", authority: "/O=Grid/CN=voms" },
        AUTH_e: { group: "cms", role: "production", authority: "/O=Grid/CN=voms" },
        AUTH_c: { group: "atlas", subgroup: "uk", local_user: "c", local_group: "g", user_identity: "/CN=c" },
      },
    });
    const records = await all(store, { config, to: at(1, 0) });
    const bySubject = Object.fromEntries(records.map((r) => [JSON.stringify(r.subject), r]));
    expect(
      bySubject[
        JSON.stringify({
          group: "cms",
          groupAttributes: [
            { type: "role", value: "production" },
            { type: "authority", value: "/O=Grid/CN=voms" },
          ],
        })
      ],
    ).toMatchObject({
      storageSystem: "s2",
      site: "SITE-B",
      storageShare: "pool-1",
      storageMedia: "tape",
      storageClass: "custodial",
      resourceCapacityUsed: 18n,
    });
    expect(
      bySubject[
        JSON.stringify({
          localUser: "c",
          localGroup: "g",
          userIdentity: "/CN=c",
          group: "atlas",
          groupAttributes: [{ type: "subgroup", value: "uk" }],
        })
      ],
    ).toMatchObject({ site: "SITE-A", resourceCapacityUsed: 5n });
    const u = records.filter((r) => r.subject?.localUser === "AUTH_u");
    expect(u.map((r) => [r.directoryPath, r.resourceCapacityUsed, r.logicalCapacityUsed])).toEqual(
      expect.arrayContaining([
        ["/home/u", 1n, undefined],
        [undefined, 2n, 1n],
      ]),
    );
    expect(records).toHaveLength(4);
    expect(await all(store, { config, to: at(1, 0), site: "SITE-B" })).toHaveLength(1);
    const skip = parseStarConfig({ unmapped: "skip", accounts: { AUTH_c: {} } });
    expect((await all(store, { config: skip, to: at(1, 0) })).map((r) => r.subject)).toEqual([{}]);
    const group = parseStarConfig({ unmapped: "group" });
    expect((await all(store, { config: group, to: at(1, 0) }))[0]?.subject).toEqual({ group: "AUTH_c" });
  });

  it("groups by the events' kept dims: place from site, share, media and class, identity from group and role", async () => {
    const dims = (d: Record<string, string>) => ({ dims: d });
    await store.insertEvents([
      level("AUTH_v", "storage.bytes", at(0, 1), 5n, dims({ site: "S", share: "p1", media: "disk" })),
      level(
        "AUTH_v",
        "storage.bytes",
        at(0, 1),
        7n,
        dims({ site: "S", share: "p2", media: "tape", storage_class: "c" }),
      ),
      level("AUTH_v", "storage.bytes", at(0, 2), 1n, dims({ group: "cms", role: "prod", other: "dropped" })),
      // The same kept dims, so the same series: its later reading stands.
      level("AUTH_v", "storage.bytes", at(0, 3), 2n, dims({ group: "cms", role: "prod" })),
    ]);
    const records = await all(store, { to: at(1, 0) });
    const shape = records.map((r) => [
      r.site,
      r.storageShare,
      r.storageMedia,
      r.storageClass,
      r.subject,
      r.resourceCapacityUsed,
    ]);
    expect(shape).toEqual(
      expect.arrayContaining([
        ["S", "p1", "disk", undefined, { localUser: "AUTH_v" }, 5n],
        ["S", "p2", "tape", "c", { localUser: "AUTH_v" }, 7n],
        [
          undefined,
          undefined,
          undefined,
          undefined,
          { localUser: "AUTH_v", group: "cms", groupAttributes: [{ type: "role", value: "prod" }] },
          2n,
        ],
      ]),
    );
    expect(records).toHaveLength(3);
  });

  it("holds a level across days without readings and leaves out series that had ended or not begun", async () => {
    await store.insertEvents([
      level("held", "storage.bytes", at(-3, 0), 9n),
      level("held", "storage.bytes", at(5, 0), 1n),
      level("gone", "storage.bytes", at(-3, 0), 9n),
      level("gone", "storage.bytes", at(-2, 0), 0n),
      level("later", "storage.bytes", at(4, 0), 9n),
    ]);
    const records = await all(store, { capacity: "average" });
    expect(records.map((r) => [r.subject?.localUser, r.resourceCapacityUsed])).toEqual([
      ["held", 9n],
      ["held", 9n],
    ]);
  });

  it("gives the same records whatever the page of accounts, and sums a mapped account into the one it names", async () => {
    await store.insertEvents([
      level("AUTH_a", "storage.bytes", at(0, 1), 3n),
      level("AUTH_b", "storage.bytes", at(-1, 1), 5n),
      level("AUTH_b", "storage.files", at(0, 5), 2n, { server: "s2" }),
      level("AUTH_c", "storage.bytes", at(1, 4), 1n, { instance: "/c" }),
      level("AUTH_d", "storage.reserved", at(-9, 0), 8n),
      // Mapped to AUTH_b's own identity, and after it in the order pages read accounts in.
      level("AUTH_z", "storage.bytes", at(0, 2), 7n),
    ]);
    const config = parseStarConfig({ accounts: { AUTH_z: { local_user: "AUTH_b" } } });
    const byId = (records: StarRecord[]) => [...records].sort((x, y) => (x.recordId < y.recordId ? -1 : 1));
    const whole = byId(await all(store, { config }));
    for (const pageAccounts of [1, 2, 3]) expect(byId(await all(store, { config, pageAccounts }))).toEqual(whole);
    const shape = whole.map((r) => [r.startTime, r.storageSystem, r.subject?.localUser, r.resourceCapacityUsed]);
    expect(shape).toEqual(
      expect.arrayContaining([
        [at(0, 0), "s1", "AUTH_b", 12n],
        [at(1, 0), "s1", "AUTH_b", 12n],
        [at(0, 0), "s1", "AUTH_a", 3n],
        [at(1, 0), "s1", "AUTH_c", 1n],
      ]),
    );
    expect(whole.filter((r) => r.subject?.localUser === "AUTH_z")).toEqual([]);
    expect(whole.find((r) => r.subject?.localUser === "AUTH_d")?.resourceCapacityAllocated).toBe(8n);
    expect(whole.filter((r) => r.storageSystem === "s2").map((r) => r.fileCount)).toEqual([2n, 2n]);
  });

  it("gives a day, read from the store's days, what its hours add up to", async () => {
    // Readings on whole hours, so that each hour's average is exact and a day's is the mean of its hours'.
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            account: fc.constantFrom("AUTH_a", "AUTH_b"),
            server: fc.constantFrom("s1", "s2"),
            metric: fc.constantFrom("storage.bytes", "storage.files"),
            hour: fc.integer({ min: -30, max: 60 }),
            value: fc.bigInt({ min: 1n, max: 2n ** 70n }),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (readings) => {
          const fresh = await open();
          try {
            await fresh.insertEvents(
              readings.map((r) => level(r.account, r.metric, at(0, r.hour), r.value, { server: r.server })),
            );
            const key = (r: StarRecord) => `${r.storageSystem} ${r.subject?.localUser}`;
            for (const capacity of ["end", "average"] as const) {
              const days = await all(fresh, { capacity });
              const hours = await all(fresh, { capacity, period: "hour" });
              const summed = new Map<string, [bigint, bigint]>();
              for (const h of hours) {
                const day = `${key(h)} ${h.startTime - (h.startTime % DAY)}`;
                const [bytes, files] = summed.get(day) ?? [0n, 0n];
                const last = (h.startTime + HOUR_MS) % DAY === 0;
                const add = (sum: bigint, v: bigint | undefined) =>
                  capacity === "average" ? sum + (v ?? 0n) : last ? (v ?? 0n) : sum;
                summed.set(day, [add(bytes, h.resourceCapacityUsed), add(files, h.fileCount)]);
              }
              const expected = [...summed].map(([day, [bytes, files]]) =>
                capacity === "average" ? [day, bytes / 24n, files / 24n] : [day, bytes, files],
              );
              const got = days.map((d) => [`${key(d)} ${d.startTime}`, d.resourceCapacityUsed, d.fileCount ?? 0n]);
              expect(got.sort()).toEqual(expected.sort());
            }
          } finally {
            await fresh.close();
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it("refuses ranges off the period's boundaries", async () => {
    await expect(all(store, { from: at(0, 1) })).rejects.toThrow("from must fall on a day boundary (00:00 UTC)");
    await expect(all(store, { to: at(0, 0) })).rejects.toThrow("to must be after from");
  });
});
