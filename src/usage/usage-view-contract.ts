// The shared suite for the usage table and petnames: every UsageStore adapter runs it (SQLite and PostgreSQL).

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { AppError } from "../domain/errors.js";
import type { UsageEvent } from "../domain/event.js";
import { HOUR_MS } from "../domain/time.js";
import { event } from "../store/contract-events.js";
import { comparePositions } from "../store/keyset.js";
import type { UsagePosition, UsageSort, UsageTablePage, UsageTableQuery, UsageTableReader } from "../store/port.js";

const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const BYTES = "storage.bytes";

export function level(
  id: string,
  server: string,
  account: string,
  value: bigint,
  more: Partial<UsageEvent> = {},
): UsageEvent {
  return event({ id, server, account, value, metric: BYTES, kind: "level", ...more });
}

const q = (more: Partial<UsageTableQuery> = {}): UsageTableQuery => ({
  metric: BYTES,
  sort: { by: "total" },
  limit: 100,
  ...more,
});

const brief = (page: UsageTablePage) => page.rows.map((r) => [r.account, r.total]);

/** Every row of the table, page by page, following the keys a client would put in its cursors. */
async function pageThrough(store: UsageTableReader, query: UsageTableQuery): Promise<UsageTablePage["rows"]> {
  const rows: UsageTablePage["rows"] = [];
  let after: UsagePosition | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await store.usageTable({ ...query, after });
    rows.push(...page.rows);
    const last = page.rows.at(-1);
    if (!page.more || !last) return rows;
    after = positionOf(query.sort, last);
  }
  throw new Error("paging did not end");
}

export function positionOf(sort: UsageSort, row: UsageTablePage["rows"][number]): UsagePosition {
  if (sort.by === "total") return { value: row.total, account: row.account };
  if (sort.by === "account") return { value: null, account: row.account };
  return { value: row.byServer[sort.server] ?? null, account: row.account };
}

export function describeUsageViewContract(open: () => Promise<Backend>): void {
  let backend: Backend;
  /** The stores the view reads and the events it is fed, by what each call needs. */
  let store: {
    insertEvents: Backend["events"]["insertEvents"];
    usageTable: Backend["usageTable"]["usageTable"];
  } & Pick<Backend, "petnames" | "maintenance">;
  beforeEach(async () => {
    backend = await open();
    store = {
      insertEvents: (events) => backend.events.insertEvents(events),
      usageTable: (query) => backend.usageTable.usageTable(query),
      petnames: backend.petnames,
      maintenance: backend.maintenance,
    };
  });
  afterEach(async () => {
    await backend.close();
  });

  describe("usageTable", () => {
    it("sums each account's latest levels over instances per server, with totals across servers", async () => {
      await store.insertEvents([
        level("1", "s1", "a", 10n),
        level("2", "s1", "a", 7n, { instance: "bucket" }),
        level("3", "s2", "a", 5n),
        level("4", "s1", "b", 100n),
        level("5", "s1", "a", 1n, { instance: "bucket", time: T0 + 10 }),
        // A late reading does not change the latest value.
        level("6", "s1", "a", 999n, { instance: "bucket", time: T0 - 10 }),
        event({ id: "7", server: "s3", account: "c", metric: "requests.get" }),
      ]);
      const page = await store.usageTable(q());
      expect(page.servers).toEqual(["s1", "s2"]);
      expect(page.rows).toEqual([
        { account: "b", petname: null, byServer: { s1: 100n }, total: 100n },
        { account: "a", petname: null, byServer: { s1: 11n, s2: 5n }, total: 16n },
      ]);
      expect(page.totals).toEqual({ byServer: { s1: 111n, s2: 5n }, total: 116n });
      expect(page.more).toBe(false);
    });

    it("has one column whose total equals it when there is one server", async () => {
      await store.insertEvents([level("1", "only", "a", 3n), level("2", "only", "b", 4n)]);
      const page = await store.usageTable(q());
      expect(page.servers).toEqual(["only"]);
      for (const row of page.rows) expect(row.total).toBe(row.byServer.only);
      expect(page.totals).toEqual({ byServer: { only: 7n }, total: 7n });
    });

    it("keeps each metric apart", async () => {
      await store.insertEvents([
        level("1", "s1", "a", 3n),
        event({ id: "2", server: "s1", account: "a", metric: "storage.files", kind: "level", value: 42n }),
      ]);
      expect(brief(await store.usageTable(q({ metric: "storage.files" })))).toEqual([["a", 42n]]);
      expect(brief(await store.usageTable(q({ metric: "storage.nothing" })))).toEqual([]);
    });

    it("keeps totals beyond 2^64 exact and in order", async () => {
      const huge = 2n ** 70n + 1n;
      await store.insertEvents([
        level("1", "s1", "a", huge),
        level("2", "s2", "a", huge),
        level("3", "s1", "b", 2n ** 64n),
        level("4", "s1", "c", 5n),
        level("5", "s1", "d", 0n),
      ]);
      const page = await store.usageTable(q());
      expect(brief(page)).toEqual([
        ["a", 2n * huge],
        ["b", 2n ** 64n],
        ["c", 5n],
        ["d", 0n],
      ]);
      expect(page.totals.total).toBe(2n * huge + 2n ** 64n + 5n);
      const after = await store.usageTable(q({ after: { value: 2n * huge, account: "a" }, limit: 1 }));
      expect(brief(after)).toEqual([["b", 2n ** 64n]]);
    });

    it("sorts by account, by total with ties by account, and by a server with the accounts not on it last", async () => {
      await store.insertEvents([
        level("1", "s1", "b", 5n),
        level("2", "s1", "a", 5n),
        level("3", "s2", "c", 9n),
        level("4", "s1", "d", 1n),
        level("5", "s2", "d", 1n),
      ]);
      expect(brief(await store.usageTable(q()))).toEqual([
        ["c", 9n],
        ["a", 5n],
        ["b", 5n],
        ["d", 2n],
      ]);
      expect((await store.usageTable(q({ sort: { by: "account" } }))).rows.map((r) => r.account)).toEqual([
        "a",
        "b",
        "c",
        "d",
      ]);
      const byS1 = await store.usageTable(q({ sort: { by: "server", server: "s1" } }));
      expect(byS1.rows.map((r) => r.account)).toEqual(["a", "b", "d", "c"]);
      const tail = await store.usageTable(
        q({ sort: { by: "server", server: "s1" }, after: { value: 1n, account: "d" } }),
      );
      expect(tail.rows.map((r) => r.account)).toEqual(["c"]);
      const unknown = await store.usageTable(q({ sort: { by: "server", server: "nowhere" } }));
      expect(unknown.rows.map((r) => r.account)).toEqual(["a", "b", "c", "d"]);
    });

    it("pages forward and back by key, each account once", async () => {
      const events = Array.from({ length: 7 }, (_, i) => level(`${i}`, "s1", `acct-${i}`, BigInt(i % 3)));
      await store.insertEvents(events);
      for (const sort of [{ by: "total" }, { by: "account" }, { by: "server", server: "s1" }] as UsageSort[]) {
        const all = (await store.usageTable(q({ sort, limit: 100 }))).rows.map((r) => r.account);
        const paged = (await pageThrough(backend.usageTable, q({ sort, limit: 2 }))).map((r) => r.account);
        expect(paged).toEqual(all);
        const third = (await store.usageTable(q({ sort, limit: 100 }))).rows[4];
        if (!third) throw new Error("no row");
        const back = await store.usageTable(q({ sort, limit: 2, before: positionOf(sort, third) }));
        expect(back.rows.map((r) => r.account)).toEqual(all.slice(2, 4));
        expect(back.more).toBe(true);
        const first = await store.usageTable(
          q({ sort, limit: 2, before: positionOf(sort, back.rows[0] as UsageTablePage["rows"][number]) }),
        );
        expect(first.rows.map((r) => r.account)).toEqual(all.slice(0, 2));
        expect(first.more).toBe(false);
      }
    });

    it("answers a subset of accounts, with totals over the subset", async () => {
      await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s2", "b", 2n), level("3", "s1", "c", 3n)]);
      const page = await store.usageTable(q({ accounts: ["a", "b", "missing", "a"] }));
      expect(brief(page)).toEqual([
        ["b", 2n],
        ["a", 1n],
      ]);
      expect(page.totals).toEqual({ byServer: { s1: 1n, s2: 2n }, total: 3n });
      const paged = await store.usageTable(q({ accounts: ["a", "b"], limit: 1, after: { value: 2n, account: "b" } }));
      expect(brief(paged)).toEqual([["a", 1n]]);
    });

    it("searches account ids and petnames, taking % and _ literally", async () => {
      await store.insertEvents([
        level("1", "s1", "alice-1", 1n),
        level("2", "s1", "bob", 2n),
        level("3", "s1", "carol", 3n),
        level("4", "s1", "x%y", 4n),
      ]);
      await store.petnames.set([{ account: "carol", name: "Carol's Photos" }]);
      const search = async (text: string) =>
        (await store.usageTable(q({ search: text }))).rows.map((r) => [r.account, r.petname]);
      expect(await search("ALICE")).toEqual([["alice-1", null]]);
      expect(await search("photos")).toEqual([["carol", "Carol's Photos"]]);
      expect(await search("%")).toEqual([["x%y", null]]);
      expect(await search("_")).toEqual([]);
      const page = await store.usageTable(q({ search: "o" }));
      expect(page.totals.total).toBe(5n);
    });

    it("restricts the columns to the servers asked for, keeping totals across every server", async () => {
      await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s2", "a", 2n), level("3", "s3", "b", 4n)]);
      const page = await store.usageTable(q({ servers: ["s2", "s1"] }));
      expect(page.servers).toEqual(["s1", "s2"]);
      expect(page.rows).toEqual([
        { account: "b", petname: null, byServer: {}, total: 4n },
        { account: "a", petname: null, byServer: { s1: 1n, s2: 2n }, total: 3n },
      ]);
      expect(page.totals).toEqual({ byServer: { s1: 1n, s2: 2n }, total: 7n });
    });

    it("shows the table as it stood at a past hour, from the rollups", async () => {
      await store.insertEvents([
        level("1", "s1", "a", 10n, { time: T0 + 10 }),
        level("2", "s1", "a", 20n, { time: T0 + 2 * HOUR_MS + 10 }),
        level("3", "s2", "b", 5n, { time: T0 + HOUR_MS + 10 }),
        level("4", "s1", "c", 1n, { time: T0 + 5 * HOUR_MS }),
      ]);
      const at = async (t: number, more: Partial<UsageTableQuery> = {}) =>
        brief(await store.usageTable(q({ at: T0 + t, ...more })));
      expect(await at(0)).toEqual([]);
      expect(await at(HOUR_MS + 5)).toEqual([["a", 10n]]);
      expect(await at(2 * HOUR_MS + 30 * 60_000)).toEqual([
        ["a", 10n],
        ["b", 5n],
      ]);
      expect(await at(3 * HOUR_MS)).toEqual([
        ["a", 20n],
        ["b", 5n],
      ]);
      expect(await at(3 * HOUR_MS, { accounts: ["b"] })).toEqual([["b", 5n]]);
      expect(await at(3 * HOUR_MS, { limit: 1, after: { value: 20n, account: "a" } })).toEqual([["b", 5n]]);
      const page = await store.usageTable(q({ at: T0 + 9 * HOUR_MS }));
      expect(page.totals).toEqual({ byServer: { s1: 21n, s2: 5n }, total: 26n });
    });

    it("stays the same after the rollups are rebuilt", async () => {
      await store.insertEvents([
        level("1", "s1", "a", 10n, { time: T0 + 5 }),
        level("2", "s1", "a", 3n, { time: T0 }),
        level("3", "s2", "b", 5n),
      ]);
      const before = await store.usageTable(q());
      await store.maintenance.rebuildRollups();
      expect(await store.usageTable(q())).toEqual(before);
    });

    it("agrees with the current levels, and pages through every account exactly once, for any events", async () => {
      const arb = fc.array(
        fc.record({
          server: fc.constantFrom("s1", "s2", "s3"),
          account: fc.constantFrom("a", "b", "c", "d", "e", "é", "A"),
          instance: fc.constantFrom("", "x"),
          time: fc.integer({ min: 0, max: 3 * HOUR_MS }),
          value: fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: 2n ** 80n })),
        }),
        { minLength: 1, maxLength: 30 },
      );
      await fc.assert(
        fc.asyncProperty(arb, fc.integer({ min: 1, max: 4 }), async (raw, limit) => {
          const fresh = await open();
          try {
            await fresh.events.insertEvents(raw.map((r, i) => level(`e${i}`, r.server, r.account, r.value, r)));
            const levels = await fresh.usage.currentLevels({ metric: BYTES });
            const totals = new Map<string, bigint>();
            for (const l of levels) totals.set(l.account, (totals.get(l.account) ?? 0n) + l.value);
            const expected = [...totals]
              .map(([account, value]) => ({ account, value }))
              .sort(comparePositions)
              .map((p) => [p.account, p.value]);
            const rows = await pageThrough(fresh.usageTable, q({ limit }));
            expect(rows.map((r) => [r.account, r.total])).toEqual(expected);
            const bySever = await pageThrough(fresh.usageTable, q({ limit, sort: { by: "server", server: "s2" } }));
            expect(bySever.map((r) => r.account).sort()).toEqual([...totals.keys()].sort());
          } finally {
            await fresh.close();
          }
        }),
        { numRuns: 15 },
      );
    });
  });

  describe("snapshots", () => {
    const sorts: UsageSort[] = [{ by: "total" }, { by: "account" }, { by: "server", server: "s2" }];
    const change = fc.record({
      server: fc.constantFrom("s1", "s2", "s3"),
      account: fc.constantFrom("a", "b", "c", "d", "e", "é", "A", "new1", "new2"),
      value: fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: 2n ** 70n })),
    });

    it("pages through every account exactly once, as the table was at the first page, while events arrive", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(change, { minLength: 1, maxLength: 20 }),
          fc.array(fc.array(change, { maxLength: 6 }), { minLength: 1, maxLength: 8 }),
          fc.constantFrom(...sorts),
          fc.integer({ min: 1, max: 3 }),
          fc.constantFrom(undefined, ["a", "b", "é", "new1"]),
          async (initial, arriving, sort, limit, accounts) => {
            const fresh = await open();
            let n = 0;
            const send = (changes: readonly { server: string; account: string; value: bigint }[]) =>
              fresh.events.insertEvents(
                changes.map((c) => level(`e${n}`, c.server, c.account, c.value, { time: T0 + n++ * 1000 })),
              );
            try {
              await send(initial);
              const query = q({ sort, limit, accounts });
              const whole = await fresh.usageTable.usageTable({ ...query, limit: 1000 });
              const rows: UsageTablePage["rows"] = [];
              const pages: UsageTablePage[] = [];
              let page = await fresh.usageTable.usageTable(query);
              for (;;) {
                pages.push(page);
                rows.push(...page.rows);
                expect(page.totals).toEqual(whole.totals);
                const last = page.rows.at(-1);
                if (!page.more || !last) break;
                await send(arriving[pages.length % arriving.length] ?? []);
                expect(page.snapshot).toBeDefined();
                page = await fresh.usageTable.usageTable({
                  ...query,
                  after: positionOf(sort, last),
                  snapshot: page.snapshot,
                });
              }
              expect(rows).toEqual(whole.rows);
              // And back: the page before the last one, read at the same snapshot, is the one read going forward.
              const before = pages.at(-2);
              const first = pages.at(-1)?.rows[0];
              if (before && first) {
                await send(arriving[0] ?? []);
                const back = await fresh.usageTable.usageTable({
                  ...query,
                  before: positionOf(sort, first),
                  snapshot: pages.at(-1)?.snapshot,
                });
                expect(back.rows).toEqual(before.rows);
              }
            } finally {
              await fresh.close();
            }
          },
        ),
        { numRuns: 40 },
      );
    });

    it("refuses a snapshot it never gave out", async () => {
      await store.insertEvents([level("1", "s1", "a", 1n), level("2", "s1", "b", 2n)]);
      const page = await store.usageTable(q({ limit: 1 }));
      expect(page.more).toBe(true);
      await expect(store.usageTable(q({ limit: 1, snapshot: "not a snapshot" }))).rejects.toBeInstanceOf(AppError);
    });
  });

  describe("petnames", () => {
    it("sets, replaces, reads and removes names", async () => {
      await store.petnames.set([
        { account: "a", name: "Alice" },
        { account: "b", name: "Bob" },
      ]);
      await store.petnames.set([{ account: "a", name: "Alice B." }]);
      expect(await store.petnames.get(["a", "b", "c"])).toEqual(
        new Map([
          ["a", "Alice B."],
          ["b", "Bob"],
        ]),
      );
      expect(await store.petnames.remove("b")).toBe(true);
      expect(await store.petnames.remove("b")).toBe(false);
      expect(await store.petnames.get(["b"])).toEqual(new Map());
    });

    it("shows petnames in the usage table", async () => {
      await store.insertEvents([level("1", "s1", "a", 1n)]);
      await store.petnames.set([{ account: "a", name: "<script>alert(1)</script>" }]);
      expect((await store.usageTable(q())).rows[0]?.petname).toBe("<script>alert(1)</script>");
    });
  });

  describe("invitations", () => {
    const now = T0;
    it("are accepted once, recording the petname for the new account", async () => {
      await store.petnames.createInvitation({ codeHash: "h1", petname: "Dana", createdAt: now, expiresAt: now + 1000 });
      expect(await store.petnames.acceptInvitation("h1", "acct-new", now + 10)).toEqual({
        account: "acct-new",
        name: "Dana",
      });
      expect(await store.petnames.get(["acct-new"])).toEqual(new Map([["acct-new", "Dana"]]));
      await expect(store.petnames.acceptInvitation("h1", "acct-other", now + 20)).rejects.toMatchObject({
        code: "CONFLICT",
      });
      expect(await store.petnames.get(["acct-other"])).toEqual(new Map());
    });

    it("refuse unknown and expired codes", async () => {
      await expect(store.petnames.acceptInvitation("nope", "x", now)).rejects.toBeInstanceOf(AppError);
      await expect(store.petnames.acceptInvitation("nope", "x", now)).rejects.toMatchObject({ code: "NOT_FOUND" });
      await store.petnames.createInvitation({ codeHash: "h2", petname: "Eve", createdAt: now, expiresAt: now + 1000 });
      await expect(store.petnames.acceptInvitation("h2", "x", now + 1000)).rejects.toMatchObject({
        code: "CONFLICT",
        message: expect.stringContaining("expired"),
      });
    });

    it("let only one of two concurrent accepts of a code win", async () => {
      await store.petnames.createInvitation({ codeHash: "h3", petname: "Fay", createdAt: now, expiresAt: now + 1000 });
      const results = await Promise.allSettled([
        store.petnames.acceptInvitation("h3", "one", now + 1),
        store.petnames.acceptInvitation("h3", "two", now + 1),
      ]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    });
  });
}
