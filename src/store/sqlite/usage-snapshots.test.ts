import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../db/sqlite-migrate.js";
import { level } from "../../usage/usage-view-contract.js";
import { DERIVED_MIGRATIONS } from "./migrations.js";
import { openSqliteStore, type SqliteUsageStore } from "./sqlite-store.js";
import { checkSnapshot, SNAPSHOT_TTL_MS, UsageSnapshots } from "./usage-snapshots.js";
import { Meta } from "./values.js";

describe("usage snapshots on SQLite", () => {
  let store: SqliteUsageStore;
  const logged = () => Number(store.db.prepare("SELECT count(*) FROM derived.usage_log").pluck().get());
  const derivedMeta = () => new Meta(store.db, "derived.meta");

  beforeEach(async () => {
    store = await openSqliteStore({ path: ":memory:" });
  });
  afterEach(async () => {
    await store.close();
  });

  it("keep nothing until a paged read holds one", async () => {
    await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s1", "b", 2n)]);
    await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
    expect(derivedMeta().get("usage_log_from", 0)).toBe(0);
    await store.insertEvents([level("3", "s1", "a", 5n, { time: Date.now() + 1000 })]);
    await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
    expect(logged()).toBe(0);
    expect(() => checkSnapshot(derivedMeta(), 1)).toThrow(/expired/);
  });

  it("are held by a paged read, which makes later writes copy the rows they move", async () => {
    const query = { metric: "storage.bytes", sort: { by: "total" }, limit: 1 } as const;
    await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s1", "b", 2n)]);
    const first = await store.usageTable(query);
    expect(first.snapshot).toBeDefined();
    expect(derivedMeta().get("usage_log_from", 0)).toBeGreaterThan(0);
    await store.insertEvents([level("3", "s1", "a", 5n, { time: Date.now() + 1000 })]);
    const next = await store.usageTable({ ...query, after: { value: 2n, account: "b" }, snapshot: first.snapshot });
    expect(next.rows.map((r) => [r.account, r.total])).toEqual([["a", 1n]]);
    expect(logged()).toBe(1);
  });
});

describe("the derived database's snapshot log", () => {
  let db: Database.Database;
  let meta: Meta;
  let now = 1_000_000;
  let snapshots: UsageSnapshots;
  const from = () => meta.get("usage_log_from", 0);

  beforeEach(() => {
    db = new Database(":memory:");
    migrate(db, "derived", DERIVED_MIGRATIONS);
    meta = new Meta(db);
    snapshots = new UsageSnapshots(db, meta, () => now);
  });
  afterEach(() => db.close());

  it("holds a page's cursor only if nothing was written since it was read; else starts at the cursor now", () => {
    meta.set("usage_seq", 9);
    expect(snapshots.hold(7)).toBe(false);
    expect(from()).toBe(9);
    expect(snapshots.hold(9)).toBe(true);
    expect(snapshots.hold(8)).toBe(false);
    expect(from()).toBe(9);
  });

  it("copies rows while held, refuses older snapshots, and forgets everything an hour after the last page", () => {
    meta.set("usage_seq", 7);
    expect(snapshots.hold(7)).toBe(true);
    expect(from()).toBe(7);
    expect(() => checkSnapshot(meta, 6)).toThrow(expect.objectContaining({ code: "GONE" }));
    checkSnapshot(meta, 7);
    expect(snapshots.logging()).toBe(true);
    now += SNAPSHOT_TTL_MS / 2;
    snapshots.hold(9);
    now += SNAPSHOT_TTL_MS / 2;
    snapshots.hold(11);
    now += SNAPSHOT_TTL_MS / 2 + 1;
    // Every snapshot before 9 was read before the page that held 9, more than an hour ago: cut.
    expect(snapshots.logging()).toBe(true);
    expect(from()).toBe(9);
    expect(() => checkSnapshot(meta, 8)).toThrow(/expired/);
    checkSnapshot(meta, 11);
    now += SNAPSHOT_TTL_MS;
    expect(snapshots.logging()).toBe(false);
    expect(from()).toBe(0);
    expect(() => checkSnapshot(meta, 11)).toThrow(/expired/);
  });
});
