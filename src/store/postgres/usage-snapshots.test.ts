// Snapshots of the usage table on a PostgreSQL database that several nodes write: what the shared usage view
// contract cannot see from one connection. PostgreSQL must be reachable (TALLY_TEST_POSTGRES).

import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { level, positionOf } from "../../usage/usage-view-contract.js";
import { event } from "../contract-events.js";
import { comparePositions } from "../keyset.js";
import type { UsageSort, UsageStore, UsageTablePage, UsageTableQuery } from "../port.js";
import { openPostgresStore, type PostgresUsageStore } from "./postgres-store.js";
import { openUsageLog, SNAPSHOT_TTL_MS, snapshotToken } from "./usage-snapshots.js";
import { PostgresUsageTable } from "./usage-table.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
const T0 = Date.UTC(2026, 10, 1);

const q = (more: Partial<UsageTableQuery> = {}): UsageTableQuery => ({
  metric: "storage.bytes",
  sort: { by: "total" },
  limit: 2,
  ...more,
});

/** The pages after `first`, each read at its snapshot. */
async function rest(
  table: Pick<UsageStore, "usageTable">,
  query: UsageTableQuery,
  first: UsageTablePage,
  between: () => Promise<void> = async () => undefined,
): Promise<UsageTablePage[]> {
  const pages: UsageTablePage[] = [];
  let page = first;
  for (;;) {
    const last = page.rows.at(-1);
    if (!page.more || !last) return pages;
    await between();
    expect(page.snapshot).toBeDefined();
    page = await table.usageTable({ ...query, after: positionOf(query.sort, last), snapshot: page.snapshot });
    pages.push(page);
  }
}

describe("PostgreSQL usage table snapshots", () => {
  const schema = `tally_test_${randomUUID().replaceAll("-", "")}`;
  let reader: PostgresUsageStore;
  let writer: PostgresUsageStore;
  let other: pg.Client;
  let n = 0;
  const write = (store: UsageStore, changes: [server: string, account: string, value: bigint][]) =>
    store.insertEvents(changes.map(([s, a, v]) => level(`e${n}`, s, a, v, { time: T0 + n++ * 1000 })));

  // An unrelated transaction holding an id, open from before each store is opened until the end: as a pg_dump,
  // another application or another test file may do. Every snapshot's xmin stays at or below its id meanwhile.
  let elsewhere: pg.Client;
  beforeAll(async () => {
    elsewhere = new pg.Client({ connectionString: url });
    await elsewhere.connect();
    await elsewhere.query("BEGIN");
    await elsewhere.query("SELECT txid_current()");
  });
  afterAll(async () => {
    await elsewhere.query("ROLLBACK");
    await elsewhere.end();
  });

  beforeEach(async () => {
    reader = await openPostgresStore({ url, schema });
    writer = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
    other = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await other.connect();
    await write(writer, [
      ["s1", "a", 10n],
      ["s2", "a", 5n],
      ["s1", "b", 30n],
      ["s2", "c", 20n],
      ["s1", "d", 1n],
      ["s2", "d", 1n],
      ["s3", "e", 7n],
    ]);
  });
  afterEach(async () => {
    await other.end();
    await reader.close();
    await writer.close();
  });

  for (const sort of [{ by: "total" }, { by: "account" }, { by: "server", server: "s2" }] as UsageSort[]) {
    it(`shows every page as of the first, sorted by ${sort.by}, while other nodes write and commit`, async () => {
      const query = q({ sort, limit: 1 });
      const whole = await reader.usageTable({ ...query, limit: 100 });
      // A transaction of another node, moving c and making f, still running when the first page is read.
      await other.query("BEGIN");
      await other.query("UPDATE series SET last_value = last_value + 100 WHERE account = 'c'");
      await other.query(
        `INSERT INTO series (server, account, metric, instance, kind, last_time, last_id, last_value)
         VALUES ('s2', 'f', 'storage.bytes', '', 'level', 0, 'x', 50)`,
      );
      // A later transaction commits first, so the first page's snapshot lists the running one as running (rather
      // than leaving it out as one past its xmax).
      await writer.insertEvents([event({ id: `counter${n++}` })]);
      const first = await reader.usageTable(query);
      expect((first.snapshot as string).split(".").length).toBeGreaterThan(4);
      await other.query("COMMIT");
      let i = 0;
      const pages = await rest(reader, query, first, async () => {
        // Between pages another node moves accounts already read, those still to come, and makes new ones.
        await write(writer, [
          ["s2", "a", BigInt(100 + i)],
          ["s1", "e", BigInt(40 + i)],
          ["s3", "d", 3n],
          ["s2", `new${i++}`, 9n],
          ["s4", "b", 2n],
        ]);
      });
      const all = [first, ...pages];
      expect(all.flatMap((p) => p.rows)).toEqual(whole.rows);
      for (const page of all) {
        expect(page.totals).toEqual(whole.totals);
        expect(page.servers).toEqual(whole.servers);
      }
      // Back from the last page, at its snapshot: the page before it as it was read going forward.
      const last = all.at(-1) as UsageTablePage;
      const back = await reader.usageTable({
        ...query,
        before: positionOf(sort, last.rows[0] as UsageTablePage["rows"][number]),
        snapshot: last.snapshot,
      });
      expect(back.rows).toEqual(all.at(-2)?.rows);
      // And the table has moved meanwhile.
      expect((await reader.usageTable({ ...query, limit: 100 })).rows).not.toEqual(whole.rows);
    });
  }

  it("reads the table exactly as any snapshot saw it, while two nodes write at once", async () => {
    let writing = true;
    const node = async (store: UsageStore, seed: number) => {
      let k = seed;
      while (writing) {
        const changes: [string, string, bigint][] = [];
        for (let i = 0; i < 8; i++) {
          k = (k * 1103515245 + 12345) % 2147483648;
          changes.push([`s${k % 3}`, `acct${(k >> 4) % 25}`, BigInt((k >> 9) % 1000)]);
        }
        await write(store, changes);
      }
    };
    const nodes = [node(writer, 1), node(reader, 2), node(writer, 3)];
    try {
      for (let round = 0; round < 10; round++) {
        // Any snapshot taken while the nodes write, and the table as it saw it.
        await other.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
        const seen = await other.query<{ snapshot: string; now: string }>(
          "SELECT pg_current_snapshot()::text AS snapshot, (extract(epoch FROM now()) * 1000)::bigint::text AS now",
        );
        const cells = await other.query<{ account: string; server: string; value: string }>(
          "SELECT account, server, value::text FROM usage_cells WHERE metric = 'storage.bytes'",
        );
        await other.query("COMMIT");
        const expected = new Map<string, { total: bigint; byServer: Record<string, bigint> }>();
        for (const c of cells.rows) {
          const row = expected.get(c.account) ?? { total: 0n, byServer: {} };
          row.total += BigInt(c.value);
          row.byServer[c.server] = BigInt(c.value);
          expected.set(c.account, row);
        }
        const snapshot = snapshotToken(seen.rows[0]?.snapshot as string, Number(seen.rows[0]?.now));
        const query = q({ limit: 3 });
        const first = await reader.usageTable({ ...query, snapshot });
        const rows = [first, ...(await rest(reader, query, first))].flatMap((p) => p.rows);
        expect(rows.map((r) => r.account)).toEqual(
          [...expected]
            .map(([account, r]) => ({ account, value: r.total }))
            .sort(comparePositions)
            .map((r) => r.account),
        );
        for (const r of rows) expect({ total: r.total, byServer: r.byServer }).toEqual(expected.get(r.account));
        const byServer: Record<string, bigint> = {};
        for (const c of cells.rows) byServer[c.server] = (byServer[c.server] ?? 0n) + BigInt(c.value);
        expect(first.totals).toEqual({
          byServer: Object.fromEntries(Object.entries(byServer).sort(([a], [b]) => (a < b ? -1 : 1))),
          total: [...expected.values()].reduce((sum, r) => sum + r.total, 0n),
        });
      }
    } finally {
      writing = false;
      await Promise.all(nodes);
    }
  });

  it("keeps a subset's and a search's totals as of the first page", async () => {
    for (const query of [q({ accounts: ["a", "c", "d", "new"], limit: 1 }), q({ search: "a", limit: 1 })]) {
      const whole = await reader.usageTable({ ...query, limit: 100 });
      const first = await reader.usageTable(query);
      const pages = await rest(reader, query, first, async () => {
        await write(writer, [
          ["s1", "a", BigInt(n)],
          ["s2", "c", BigInt(n)],
          ["s1", "new", 4n],
        ]);
      });
      expect([first, ...pages].flatMap((p) => p.rows)).toEqual(whole.rows);
      for (const page of [first, ...pages]) expect(page.totals).toEqual(whole.totals);
    }
  });

  it("refuses as GONE a snapshot over an hour old", async () => {
    const first = await reader.usageTable(q());
    expect(first.more).toBe(true);
    const now = await writer.pool.query<{ snapshot: string }>("SELECT pg_current_snapshot()::text AS snapshot");
    const old = snapshotToken(now.rows[0]?.snapshot as string, Date.now() - SNAPSHOT_TTL_MS - 60_000);
    const after = positionOf({ by: "total" }, first.rows[1] as UsageTablePage["rows"][number]);
    await expect(reader.usageTable(q({ after, snapshot: old }))).rejects.toMatchObject({
      code: "GONE",
      message: expect.stringMatching(/expired.*start again from the first page/),
    });
    // The token it gave out is still good.
    expect((await reader.usageTable(q({ after, snapshot: first.snapshot }))).rows.length).toBeGreaterThan(0);
  });

  it("refuses as GONE a snapshot whose copies the log has cut, and cuts them", async () => {
    const first = await reader.usageTable(q());
    await write(writer, [["s1", "a", 1000n]]);
    const copies = async () => Number((await writer.pool.query("SELECT count(*) FROM usage_cells_log")).rows[0].count);
    const before = await copies();
    // A mark over an hour old, taken once the write after the first page (an id of at least its xmax) finished.
    const [xmin, span] = (first.snapshot as string).split(".").slice(2, 4);
    const oldest = BigInt(`0x${xmin}`) + BigInt(`0x${span}`) + 1n;
    await writer.pool.query(
      "INSERT INTO usage_log_marks (taken, oldest) VALUES (now() - interval '2 hours', $1::text::xid8)",
      [oldest.toString()],
    );
    await new PostgresUsageTable(writer.pool).snapshots.prune();
    expect(await copies()).toBeLessThan(before);
    const after = positionOf({ by: "total" }, first.rows[1] as UsageTablePage["rows"][number]);
    await expect(reader.usageTable(q({ after, snapshot: first.snapshot }))).rejects.toMatchObject({ code: "GONE" });
  });

  it("cuts the log while an old transaction is open, never what a snapshot that may still be paged needs", async () => {
    const snapshots = new PostgresUsageTable(writer.pool).snapshots;
    // A mark taken while the transaction elsewhere holds the oldest running id back, then aged past the retention.
    await snapshots.prune();
    await writer.pool.query("UPDATE usage_log_marks SET taken = taken - interval '2 hours'");
    const query = q({ limit: 1 });
    const whole = await reader.usageTable({ ...query, limit: 100 });
    const first = await reader.usageTable(query);
    await write(writer, [
      ["s1", "b", 1000n],
      ["s2", "c", 1000n],
    ]);
    await snapshots.prune();
    const pages = await rest(reader, query, first, async () => {
      await write(writer, [["s1", "a", BigInt(n)]]);
    });
    expect([first, ...pages].flatMap((p) => p.rows)).toEqual(whole.rows);
  });

  it("sets the horizon on the first open only once the writers of series have finished", async () => {
    await writer.pool.query("UPDATE usage_log_horizon SET cut = NULL");
    // A writer that may have called usage_view_add as it was before the migration, still running.
    await other.query("BEGIN");
    await other.query("UPDATE series SET last_value = last_value + 1 WHERE account = 'a'");
    const client = await reader.pool.connect();
    try {
      let opened = false;
      const opening = openUsageLog(client).finally(() => {
        opened = true;
      });
      const waiting = async () =>
        (
          await writer.pool.query(
            "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'series'::regclass AND NOT granted",
          )
        ).rows[0].n > 0;
      while (!opened && !(await waiting())) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(opened).toBe(false);
      const horizon = async () => (await writer.pool.query("SELECT cut FROM usage_log_horizon")).rows[0].cut;
      expect(await horizon()).toBeNull();
      await other.query("COMMIT");
      await opening;
      expect(await horizon()).not.toBeNull();
    } finally {
      client.release();
    }
  });

  it("keeps a snapshot too long for a cursor in a table, and names it by id", async () => {
    const table = new PostgresUsageTable(reader.pool, { inlineTokenLimit: 0 });
    const query = q({ limit: 1 });
    const whole = await table.usageTable({ ...query, limit: 100 });
    const first = await table.usageTable(query);
    expect(first.snapshot).toMatch(/^r\.[0-9a-f]+$/);
    const pages = await rest(table, query, first, async () => {
      await write(writer, [["s1", "b", BigInt(n)]]);
    });
    expect([first, ...pages].flatMap((p) => p.rows)).toEqual(whole.rows);
    await expect(table.usageTable({ ...query, snapshot: "r.fffffff" })).rejects.toMatchObject({ code: "GONE" });
  });

  it("searches by listing the matches, or by walking the table past the listing's limit, with the same pages", async () => {
    await write(writer, [
      ["s1", "ab", 3n],
      ["s2", "ba", 9n],
    ]);
    await writer.pool.query("INSERT INTO petnames (account, name, updated_at) VALUES ('c', 'Abc Labs', 0)");
    const listing = new PostgresUsageTable(reader.pool);
    const walking = new PostgresUsageTable(reader.pool, { searchListed: 0 });
    for (const sort of [{ by: "total" }, { by: "account" }, { by: "server", server: "s2" }] as UsageSort[]) {
      for (const search of ["A", "ba", "abc", "Labs", "zzz"]) {
        const query = q({ sort, search, limit: 1 });
        for (const table of [listing, walking]) {
          const whole = await listing.usageTable({ ...query, limit: 100 });
          expect(await walking.usageTable({ ...query, limit: 100 })).toEqual(whole);
          const first = await table.usageTable(query);
          const pages = await rest(table, query, first, async () => {
            await write(writer, [["s2", "ab", BigInt(n)]]);
          });
          expect([first, ...pages].flatMap((p) => p.rows).map((r) => r.account)).toEqual(
            whole.rows.map((r) => r.account),
          );
          for (const page of [first, ...pages]) expect(page.totals).toEqual(whole.totals);
        }
      }
    }
    const found = await listing.usageTable(q({ search: "abc", limit: 100 }));
    expect(found.rows.map((r) => [r.account, r.petname])).toEqual([["c", "Abc Labs"]]);
  });

  it("refuses a token it could not have given out", async () => {
    for (const token of ["s.1.2", "s.0.5.2.3", "s.0.5.2.1.1", "r.", "x", `s.${"f".repeat(17)}.1.1`]) {
      await expect(reader.usageTable(q({ snapshot: token }))).rejects.toMatchObject({ code: "VALIDATION" });
    }
    const future = snapshotToken("99999999:99999999:", Date.now());
    await expect(reader.usageTable(q({ snapshot: future }))).rejects.toMatchObject({ code: "VALIDATION" });
  });
});
