import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { level } from "../../usage/usage-view-contract.js";
import { openSqliteStore, type SqliteUsageStore } from "./sqlite-store.js";
import { SNAPSHOT_TTL_MS, UsageSnapshots } from "./usage-snapshots.js";
import { Meta } from "./values.js";

describe("usage snapshots on SQLite", () => {
  let store: SqliteUsageStore;
  let now = 1_000_000;
  let snapshots: UsageSnapshots;
  const logged = () => Number(store.db.prepare("SELECT count(*) FROM usage_log").pluck().get());
  const from = () => new Meta(store.db).get("usage_log_from", 0);

  beforeEach(async () => {
    store = await openSqliteStore({ path: ":memory:" });
    snapshots = new UsageSnapshots(store.db, new Meta(store.db), () => now);
  });
  afterEach(async () => {
    await store.close();
  });

  it("keep nothing until a paged read holds one", async () => {
    await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s1", "b", 2n)]);
    await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
    expect(from()).toBe(0);
    await store.insertEvents([level("3", "s1", "a", 5n, { time: Date.now() + 1000 })]);
    await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
    expect(logged()).toBe(0);
    expect(() => snapshots.check(1)).toThrow(/expired/);
  });

  it("are held by a paged read, which makes later writes copy the rows they move", async () => {
    const query = { metric: "storage.bytes", sort: { by: "total" }, limit: 1 } as const;
    await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s1", "b", 2n)]);
    const first = await store.usageTable(query);
    expect(first.snapshot).toBeDefined();
    expect(from()).toBeGreaterThan(0);
    await store.insertEvents([level("3", "s1", "a", 5n, { time: Date.now() + 1000 })]);
    const next = await store.usageTable({ ...query, after: { value: 2n, account: "b" }, snapshot: first.snapshot });
    expect(next.rows.map((r) => [r.account, r.total])).toEqual([["a", 1n]]);
    expect(logged()).toBe(1);
  });

  it("copy rows while held, refuse older snapshots, and forget everything an hour after the last page", async () => {
    snapshots.hold(7);
    expect(from()).toBe(7);
    expect(() => snapshots.check(6)).toThrow(expect.objectContaining({ code: "GONE" }));
    snapshots.check(7);
    expect(snapshots.logging()).toBe(true);
    now += SNAPSHOT_TTL_MS / 2;
    snapshots.hold(9);
    now += SNAPSHOT_TTL_MS / 2;
    snapshots.hold(11);
    now += SNAPSHOT_TTL_MS / 2 + 1;
    // Every snapshot before 9 was read before the page that held 9, more than an hour ago: cut.
    expect(snapshots.logging()).toBe(true);
    expect(from()).toBe(9);
    expect(() => snapshots.check(8)).toThrow(/expired/);
    snapshots.check(11);
    now += SNAPSHOT_TTL_MS;
    expect(snapshots.logging()).toBe(false);
    expect(from()).toBe(0);
    expect(() => snapshots.check(11)).toThrow(/expired/);
  });
});
