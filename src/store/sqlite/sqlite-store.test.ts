import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { openSqliteBackend } from "../../backend/sqlite.js";
import { DAY_MS } from "../../domain/day-usage.js";
import type { UsageEvent } from "../../domain/event.js";
import { computeRollups, sortRollups } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import { describeUsageViewContract } from "../../usage/usage-view-contract.js";
import { describeUsageStoreContract } from "../contract.js";
import { arbitraryEvents, event } from "../contract-events.js";
import type { UsageStore } from "../port.js";
import { USAGE_MIGRATIONS } from "./migrations.js";
import { keyFingerprint } from "./recent-keys.js";
import { openSqliteStore } from "./sqlite-store.js";
import { derivedPath } from "./store-files.js";

describe("SqliteUsageStore", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:" }));
});

describe("SqliteUsageStore merging its dedup keys to disk after every few events", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:", recentKeySlots: 4 }));
});

describe("SqliteUsageStore keeping two series in memory", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:", seriesCacheSize: 2, derivedFlushEvents: 5 }));
  describeUsageViewContract(() => openSqliteBackend({ path: ":memory:", seriesCacheSize: 2 }));
});

describe("SqliteUsageStore whose series share fingerprints", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:", seriesFingerprintBits: 1, seriesCacheSize: 3 }));
  describeUsageViewContract(() => openSqliteBackend({ path: ":memory:", seriesFingerprintBits: 1 }));
});

describe("SqliteUsageStore writing its derived state after every few events", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:", derivedFlushEvents: 3 }));
  describeUsageViewContract(() => openSqliteBackend({ path: ":memory:", derivedFlushEvents: 2 }));
});

describe("SqliteUsageStore moving dedup keys to disk", () => {
  const events = Array.from({ length: 60 }, (_, i) => event({ id: `e${i}`, time: i }));
  const resend = async (store: UsageStore, size: number) => {
    let duplicates = 0;
    for (let i = 0; i < events.length; i += size)
      duplicates += (await store.insertEvents(events.slice(i, i + size))).duplicates;
    return duplicates;
  };

  it("finds every key again, moved a slice per batch or, for a batch too big for memory, all at once", async () => {
    for (const size of [1, 3, 10]) {
      const store = await openSqliteStore({ path: ":memory:", recentKeySlots: 8 });
      expect(await resend(store, size)).toBe(0);
      expect(await resend(store, size)).toBe(events.length);
      expect(await resend(store, 7)).toBe(events.length);
      await store.close();
    }
  });

  it("finds every key again after a crash in the middle of a move", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-dedup-"));
    try {
      const file = path.join(dir, "tally.sqlite");
      let store = await openSqliteStore({ path: file, recentKeySlots: 64 });
      // 60 keys in batches of 2: a generation of 32 is frozen, and about half of it moved, when the crash comes.
      expect(await resend(store, 2)).toBe(0);
      await store.abandon();
      store = await openSqliteStore({ path: file, recentKeySlots: 64 });
      expect(await resend(store, 5)).toBe(events.length);
      await store.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("SqliteUsageStore adding counter sums in memory and on disk", () => {
  it("keeps a sum exact as it leaves the integers a double holds", async () => {
    const store = await openSqliteStore({ path: ":memory:" });
    const value = 2n ** 52n + 1n;
    await store.insertEvents([0, 1, 2].map((i) => event({ id: `c${i}`, value, time: i })));
    const [row] = await store.allRollups();
    expect(row?.sum).toBe(3n * value);
    await store.close();
  });

  it("keeps a sum exact as it leaves 64 bits and grows beyond", async () => {
    const store = await openSqliteStore({ path: ":memory:", derivedFlushEvents: 1 });
    const big = 2n ** 62n;
    for (let i = 0; i < 5; i++) await store.insertEvents([event({ id: `c${i}`, value: big, time: i })]);
    await store.insertEvents([event({ id: "small", value: 1n, time: 9 })]);
    const [row] = await store.allRollups();
    expect(row?.sum).toBe(5n * big + 1n);
    expect(row?.count).toBe(6);
    await store.close();
  });
});

describe("SqliteUsageStore after a crash", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  const T0 = Date.UTC(2026, 10, 1);
  const arbEvents = arbitraryEvents(5);

  /** A store file in a directory of its own, removed after the test. */
  function storeFile(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return path.join(dir, "tally.sqlite");
  }

  /** A few dozen events of every kind, from a seed, with ids unique across them. */
  const sampleEvents = (seed: number) =>
    fc
      .sample(arbEvents, { numRuns: 8, seed })
      .flat()
      .map((e, i) => ({ ...e, id: `e${i}` }));

  /** The derived state a store shows: rollups, current levels, the usage table's rows and sums, and days. */
  async function derived(store: UsageStore) {
    return {
      rollups: sortRollups(await store.allRollups()),
      levels: await store.currentLevels({ metric: "storage.bytes" }),
      table: await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 100 }),
      days: await store.accountsDays({
        accounts: ["a", "b"],
        from: T0,
        to: T0 + 2 * DAY_MS,
        metrics: ["storage.bytes", "requests.put", "power.on"],
      }),
    };
  }

  it("derives again, from the log, exactly what it held in memory and had not written", async () => {
    await fc.assert(
      fc.asyncProperty(
        arbEvents,
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 10 }),
        async (events, batchSize, flushEvery) => {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-crash-"));
          dirs.push(dir);
          const file = path.join(dir, "tally.sqlite");
          const crashAt = Math.floor(events.length / 2);
          const options = {
            path: file,
            derivedFlushEvents: flushEvery,
            seriesCacheSize: 1 + (flushEvery % 4),
            // The usage table's sums written with the rest, or held in memory until the crash loses them.
            usageFlushChanges: flushEvery % 2 === 0 ? 1 : 1000,
            // Small enough that dedup keys move to disk, a slice per batch or all at once, and a crash cuts a move short.
            recentKeySlots: 8 << (flushEvery % 3),
          };
          let store = await openSqliteStore(options);
          for (let i = 0; i < crashAt; i += batchSize)
            await store.insertEvents(events.slice(i, Math.min(i + batchSize, crashAt)));
          // A crash: the connection goes without the store writing what it holds in memory.
          await store.abandon();
          store = await openSqliteStore(options);
          for (let i = crashAt; i < events.length; i += batchSize)
            await store.insertEvents(events.slice(i, i + batchSize));
          const after = await derived(store);
          expect(after.rollups).toEqual(computeRollups(events));
          expect((await store.stats()).events).toBe(events.length);
          let duplicates = 0;
          for (let i = 0; i < events.length; i += batchSize) {
            duplicates += (await store.insertEvents(events.slice(i, i + batchSize))).duplicates;
          }
          expect(duplicates).toBe(events.length);
          await store.close();

          const reference = await openSqliteStore({ path: ":memory:" });
          await reference.insertEvents(events);
          expect(after).toEqual(await derived(reference));
          await reference.close();
        },
      ),
      { numRuns: 25 },
    );
  });

  it("brings the latest levels and the days up to the rollups again after a crash, in whatever order readings came", async () => {
    // Levels read many times, rollups written every few events, the latest readings, the latest days and the usage
    // table only on close: a crash leaves them on disk far behind the rollups, and a restart must catch them up.
    const levels = Array.from({ length: 90 }, (_, i) =>
      event({
        id: `l${i}`,
        account: i % 2 === 0 ? "a" : "b",
        server: `s${i % 3}`,
        metric: "storage.bytes",
        kind: "level",
        value: BigInt(1000 + ((i * 7919) % 500)),
        // Over two days, half an hour apart.
        time: T0 + ((i * 37) % 90) * 30 * 60_000,
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(levels, { minLength: levels.length }),
        fc.integer({ min: 10, max: 80 }),
        async (order, crashAt) => {
          const options = {
            path: storeFile("tally-latest-"),
            derivedFlushEvents: 4,
            seriesCacheSize: 2,
            usageFlushChanges: 1000,
          };
          let store = await openSqliteStore(options);
          for (let i = 0; i < crashAt; i += 3) await store.insertEvents(order.slice(i, Math.min(i + 3, crashAt)));
          await store.abandon();
          store = await openSqliteStore(options);
          await store.insertEvents(order.slice(crashAt));
          const after = await derived(store);
          await store.close();
          const reference = await openSqliteStore({ path: ":memory:" });
          await reference.insertEvents(levels);
          expect(after).toEqual(await derived(reference));
          await reference.close();
        },
      ),
      { numRuns: 10 },
    );
  });

  /** Stores the events, changes the derived database while the store is closed, and checks it is derived again. */
  async function expectDerivedAgain(events: UsageEvent[], change: (derivedFile: string) => void) {
    const file = storeFile("tally-derived-");
    let store = await openSqliteStore({ path: file });
    await store.insertEvents(events);
    const before = await derived(store);
    await store.close();
    change(derivedPath(file));
    store = await openSqliteStore({ path: file });
    expect(await derived(store)).toEqual(before);
    expect(sortRollups(await store.allRollups())).toEqual(computeRollups(events));
    await store.close();
  }

  it("derives its tables again from the log when the derived database is gone", async () => {
    const events = sampleEvents(7);
    expect(events.length).toBeGreaterThan(40);
    await expectDerivedAgain(events, (derivedFile) => {
      for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(`${derivedFile}${suffix}`, { force: true });
    });
  });

  /** Turns a derived database back into the layout of an earlier version, with rows that are wrong. */
  const earlierLayout = (version: 1 | 2) => (derivedFile: string) => {
    const old = new Database(derivedFile);
    old.exec(`DROP TABLE days; DROP TABLE latest; DROP TABLE readings; DROP TABLE rollups;
      CREATE TABLE readings (series_id INTEGER NOT NULL, time INTEGER NOT NULL, id TEXT NOT NULL, value ANY NOT NULL,
        PRIMARY KEY (series_id, time, id)) STRICT, WITHOUT ROWID;
      CREATE TABLE rollups (series_id INTEGER NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL, sum ANY,
        last ANY, max ANY, integral ANY${version === 2 ? ", last_time INTEGER" : ""},
        PRIMARY KEY (series_id, hour)) STRICT, WITHOUT ROWID;
      INSERT INTO rollups (series_id, hour, count, last, max, integral) VALUES (1, 0, 1, 5, 5, -1);
      UPDATE schema_versions SET version = ${version} WHERE component = 'derived'`);
    old.close();
  };

  it("derives its tables again from the log when its derived database is from before open rows", async () => {
    await expectDerivedAgain(sampleEvents(11), earlierLayout(1));
  });

  it("derives its tables again from the log when its derived database is from before rows by hour", async () => {
    await expectDerivedAgain(sampleEvents(12), earlierLayout(2));
  });

  it("derives its tables again from the log when its derived database is from before days", async () => {
    await expectDerivedAgain(sampleEvents(14), (derivedFile) => {
      const old = new Database(derivedFile);
      old.exec("DROP TABLE days; UPDATE schema_versions SET version = 4 WHERE component = 'derived'");
      old.close();
    });
  });

  it("takes events while its derived database cannot be written, and derives them once it can", async () => {
    const file = storeFile("tally-derived-locked-");
    const events = sampleEvents(13);
    const half = Math.floor(events.length / 2);
    // Writing behind every 2 events, the usage table's sums only on reads: on disk they lag the rest.
    const store = await openSqliteStore({ path: file, derivedFlushEvents: 2 });
    await store.insertEvents(events.slice(0, half));
    const reader = new Database(derivedPath(file), { readonly: true });
    const cursor = (key: string) =>
      Number(reader.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(key) ?? 1);
    while (cursor("rollup_seq") < half) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(cursor("usage_seq")).toBeLessThan(cursor("rollup_seq"));
    reader.close();
    // Another writer holds the derived database: the worker's writes fail (after its 5 s busy timeout).
    const blocker = new Database(derivedPath(file));
    blocker.exec("BEGIN IMMEDIATE");
    try {
      expect((await store.insertEvents(events.slice(half))).accepted).toBe(events.length - half);
      await expect(store.allRollups()).rejects.toThrow(/database is locked/);
    } finally {
      blocker.exec("ROLLBACK");
      blocker.close();
    }
    expect(sortRollups(await store.allRollups())).toEqual(computeRollups(events));
    const table = await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 100 });
    const reference = await openSqliteStore({ path: ":memory:" });
    await reference.insertEvents(events);
    expect(table).toEqual(await reference.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 100 }));
    await reference.close();
    await store.close();
  }, 60_000);

  it("rebuilds every derived table, the usage table too, to what incremental maintenance gave", async () => {
    const store = await openSqliteStore({ path: ":memory:", derivedFlushEvents: 2 });
    const events = [
      event({ id: "1", metric: "storage.bytes", kind: "level", value: 10n, time: T0 + 5 * HOUR_MS }),
      event({ id: "2", metric: "storage.bytes", kind: "level", value: 20n, time: T0 }),
      event({ id: "3", value: 2n, time: T0 + HOUR_MS }),
      event({ id: "4", metric: "storage.bytes", kind: "level", value: 7n, time: T0 + 2 * HOUR_MS, account: "b" }),
    ];
    await store.insertEvents(events);
    const before = await derived(store);
    expect(await store.rebuildRollups()).toEqual({ events: 4, rollups: before.rollups.length });
    expect(await derived(store)).toEqual(before);
    await store.close();
  });

  it("converts a store whose event blocks name series ids, and derives its tables again", async () => {
    const file = storeFile("tally-upgrade-");
    const old = new Database(file);
    old.exec(USAGE_MIGRATIONS[0] as string);
    old.exec(`CREATE TABLE schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL) STRICT;
      INSERT INTO schema_versions VALUES ('usage', 1);
      INSERT INTO metrics VALUES ('storage.bytes', 'level'), ('requests.get', 'counter');
      INSERT INTO servers VALUES (1, 's1', 0, 0, 2), (2, 's2', 0, 0, 1);
      INSERT INTO series (id, server_id, account, metric, instance, kind) VALUES
        (1, 1, 'a', 'storage.bytes', '', 'level'), (2, 2, 'a', 'requests.get', 'b1', 'counter');
      INSERT INTO meta VALUES ('rollup_seq', 4);`);
    const data = [
      ["l1", 1, 1, T0, 5, null],
      ["c1", 2, 2, T0 + 10, "345876451382054092800", { site: "x" }],
      ["l2", 1, 1, T0 + HOUR_MS, 9, null],
    ];
    const fps = new Float64Array(data.map(([id, server]) => keyFingerprint(`s${server}`, id as string)));
    old
      .prepare("INSERT INTO event_blocks (first_seq, count, fps, data) VALUES (1, 3, ?, ?)")
      .run(Buffer.from(fps.buffer), JSON.stringify(data));
    old.close();

    const store = await openSqliteStore({ path: file });
    const level = { server: "s1", account: "a", metric: "storage.bytes", kind: "level" as const };
    expect(sortRollups(await store.allRollups())).toEqual(
      computeRollups([
        event({ ...level, id: "l1", time: T0, value: 5n }),
        event({
          id: "c1",
          server: "s2",
          account: "a",
          instance: "b1",
          time: T0 + 10,
          value: 345876451382054092800n,
          dims: { site: "x" },
        }),
        event({ ...level, id: "l2", time: T0 + HOUR_MS, value: 9n }),
      ]),
    );
    const table = await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
    expect(table.rows.map((r) => [r.account, r.total])).toEqual([["a", 9n]]);
    // The converted block still deduplicates its events.
    expect(await store.insertEvents([event({ id: "c1", server: "s2" })])).toMatchObject({ duplicates: 1 });
    await store.close();
  });
});
