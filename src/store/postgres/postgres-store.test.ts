// Runs the store contract against PostgreSQL, plus what only a shared database has: several nodes at once.
// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import fc from "fast-check";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { DAY_MS, daysOfHours, rollupsHeldUntil } from "../../domain/day-usage.js";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import { computeRollups, sortRollups } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import { describeUsageStoreContract } from "../contract.js";
import { event } from "../contract-events.js";
import { MIGRATIONS } from "./migrations.js";
import { describeUrl, openPostgresStore, type PostgresStoreOptions } from "./postgres-store.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
const T0 = Date.UTC(2026, 10, 1);

const freshSchema = () => `tally_test_${randomUUID().replaceAll("-", "")}`;
const open = (options: Partial<PostgresStoreOptions> = {}) =>
  openPostgresStore({ url, schema: freshSchema(), dropSchemaOnClose: true, ...options });

describe("PostgresUsageStore", () => {
  describeUsageStoreContract(() => open());
});

describe("PostgresUsageStore rebuilding a few readings at a time", () => {
  describeUsageStoreContract(() => open({ rebuildChunk: 2 }));
});

/** Levels, states and counters over a few series and hours, some at the same time, in no particular order. */
function mixedEvents(n: number, seed: number): UsageEvent[] {
  const kinds: [string, MetricKind][] = [
    ["storage.bytes", "level"],
    ["requests.put", "counter"],
    ["power.on", "state"],
  ];
  const arb = fc.record({
    server: fc.constantFrom("s1", "s2"),
    account: fc.constantFrom("a", "b"),
    metric: fc.constantFrom(0, 1, 2),
    instance: fc.constantFrom("", "bucket"),
    time: fc.integer({ min: 0, max: 8 * HOUR_MS }),
    value: fc.bigInt({ min: 0n, max: 2n ** 70n }),
  });
  const raw = fc.sample(arb, { numRuns: n, seed });
  return raw.map((r, i) => {
    const [metric, kind] = kinds[r.metric] as [string, MetricKind];
    const value = kind === "state" ? r.value % 2n : r.value;
    return event({ ...r, id: `e${i}`, metric, kind, value, time: T0 + r.time - (r.time % 13) });
  });
}

/** Every series of mixedEvents by day, over `days` days from T0. */
const dayQuery = (days: number) => ({
  accounts: ["a", "b"],
  from: T0,
  to: T0 + days * DAY_MS,
  metrics: ["storage.bytes", "requests.put", "power.on"],
});

/** The day rows dayQuery should read of the events, as daysOfHours makes them. */
const expectedDays = (events: readonly UsageEvent[], days: number) =>
  daysOfHours(rollupsHeldUntil(events, T0 + days * DAY_MS), T0, T0 + days * DAY_MS);

function shuffled<T>(items: readonly T[], seed: number): T[] {
  return fc.sample(fc.shuffledSubarray([...items], { minLength: items.length }), { numRuns: 1, seed })[0] ?? [...items];
}

function batches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Like Promise.all, but waits for every node to finish before failing, so none is still writing at close. */
async function all<T extends readonly unknown[]>(
  work: readonly [...T],
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  await Promise.allSettled(work);
  return Promise.all(work);
}

describe("PostgresUsageStore shared by several nodes", () => {
  it("keeps each event exactly once and the rollups right when two nodes ingest the same events at once", async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([
      openPostgresStore({ url, schema }),
      openPostgresStore({ url, schema, dropSchemaOnClose: true }),
    ]);
    try {
      const events = mixedEvents(400, 7);
      const ingest = async (store: typeof a, order: UsageEvent[], size: number) => {
        let accepted = 0;
        let duplicates = 0;
        for (const batch of batches(order, size)) {
          const out = await store.insertEvents(batch);
          expect(out.rejected).toEqual([]);
          accepted += out.accepted;
          duplicates += out.duplicates;
        }
        return { accepted, duplicates };
      };
      const [fromA, fromB] = await all([ingest(a, shuffled(events, 1), 9), ingest(b, shuffled(events, 2), 13)]);
      expect(fromA.accepted + fromA.duplicates).toBe(events.length);
      expect(fromB.accepted + fromB.duplicates).toBe(events.length);
      expect(fromA.accepted + fromB.accepted).toBe(events.length);

      expect((await a.stats()).events).toBe(events.length);
      const expected = computeRollups(events);
      expect(sortRollups(await a.allRollups())).toEqual(expected);
      expect(sortRollups(await b.allRollups())).toEqual(expected);
      expect(await a.accountsDays(dayQuery(2))).toEqual(expectedDays(events, 2));
      const servers = await b.servers();
      expect(servers.reduce((n, s) => n + s.events, 0)).toBe(events.length);

      expect(await a.rebuildRollups()).toEqual({ events: events.length, rollups: expected.length });
      expect(sortRollups(await b.allRollups())).toEqual(expected);
      expect(await b.accountsDays(dayQuery(2))).toEqual(expectedDays(events, 2));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("agrees on a new metric's kind when two nodes first store it with different kinds at once", async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([
      openPostgresStore({ url, schema }),
      openPostgresStore({ url, schema, dropSchemaOnClose: true }),
    ]);
    try {
      const [outA, outB] = await all([
        a.insertEvents([event({ id: "a1", metric: "custom.race", kind: "level" })]),
        b.insertEvents([event({ id: "b1", metric: "custom.race", kind: "counter" })]),
      ]);
      expect(outA.accepted + outB.accepted).toBe(1);
      expect(outA.rejected.length + outB.rejected.length).toBe(1);
      const kind = (await a.metricKinds())["custom.race"];
      expect(await b.metricKinds()).toMatchObject({ "custom.race": kind });
      expect((await a.allRollups()).map((r) => r.kind)).toEqual([kind]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("lets ingest go on while another node rebuilds the rollups", async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([
      openPostgresStore({ url, schema }),
      openPostgresStore({ url, schema, dropSchemaOnClose: true }),
    ]);
    try {
      const events = mixedEvents(300, 11);
      const [first, rest] = [events.slice(0, 100), events.slice(100)];
      await a.insertEvents(first);
      await all([
        (async () => {
          for (const batch of batches(shuffled(rest, 3), 7)) await a.insertEvents(batch);
        })(),
        (async () => {
          for (let i = 0; i < 5; i++) await b.rebuildRollups();
        })(),
      ]);
      expect(sortRollups(await b.allRollups())).toEqual(computeRollups(events));
      expect(await b.accountsDays(dayQuery(2))).toEqual(expectedDays(events, 2));
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("PostgresUsageStore incremental rollups", () => {
  it("match computeRollups for late readings arriving one at a time, and after a rebuild", async () => {
    const store = await open({ rebuildChunk: 3 });
    try {
      const events = mixedEvents(150, 5);
      for (const e of shuffled(events, 9)) await store.insertEvents([e]);
      const expected = computeRollups(events);
      expect(sortRollups(await store.allRollups())).toEqual(expected);
      expect(await store.accountsDays(dayQuery(2))).toEqual(expectedDays(events, 2));
      await store.rebuildRollups();
      expect(await store.allRollups()).toEqual(expected);
    } finally {
      await store.close();
    }
  });

  it("keeps the latest reading right after late readings and a rebuild", async () => {
    const store = await open();
    try {
      const level = (id: string, t: number, v: bigint) =>
        event({ id, metric: "storage.bytes", kind: "level", time: T0 + t, value: v });
      await store.insertEvents([level("b", 10, 2n), level("a", 10, 1n)]);
      await store.insertEvents([level("c", 5, 3n)]);
      const current = async () =>
        (await store.currentLevels({ metric: "storage.bytes" })).map((l) => [l.value, l.time - T0]);
      expect(await current()).toEqual([[2n, 10]]);
      await store.rebuildRollups();
      expect(await current()).toEqual([[2n, 10]]);
    } finally {
      await store.close();
    }
  });
});

describe("PostgresUsageStore opening a schema written before held rows were kept open", () => {
  it("reads, appends and recomputes the closed rows it finds as it would its own, and derives their days", async () => {
    const schema = freshSchema();
    // A level over three days, whose late reading changes the level held all through a day with no reading.
    const level = (id: string, time: number, value: bigint) =>
      event({ id, account: "a", metric: "storage.bytes", kind: "level", instance: "days", time: T0 + time, value });
    const events = [
      ...mixedEvents(120, 7),
      level("d1", 2 * HOUR_MS, 10n),
      level("d2", 2 * DAY_MS + HOUR_MS, 30n),
      level("d3", 6 * HOUR_MS, 20n),
    ];
    const [early, late] = [
      events.filter((e) => e.time < T0 + 5 * HOUR_MS || e.time >= T0 + DAY_MS),
      events.slice(0, 30),
    ];
    const first = await openPostgresStore({ url, schema });
    await first.insertEvents(early);
    await first.close();

    // Rewrite the rollups as that schema kept them: every hour of a held series closed, the latest hour open at
    // the latest reading, which is what computeRollups gives, and no last_time column.
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      await client.query(
        "ALTER TABLE rollups DROP COLUMN last_time; DROP TABLE rollup_days; DELETE FROM schema_migrations WHERE version IN (2, 4)",
      );
      await client.query("DELETE FROM rollups");
      for (const r of computeRollups(early)) {
        await client.query(
          `INSERT INTO rollups (series_id, hour, count, sum, last, max, integral)
           SELECT id, $5, $6, $7, $8, $9, $10 FROM series
           WHERE server = $1 AND account = $2 AND metric = $3 AND instance = $4`,
          [r.server, r.account, r.metric, r.instance, r.hour, r.count, r.sum, r.last, r.max, r.integral].map((v) =>
            typeof v === "bigint" ? v.toString() : v,
          ),
        );
      }
    } finally {
      await client.end();
    }

    const store = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
    try {
      expect(sortRollups(await store.allRollups())).toEqual(computeRollups(early));
      expect(await store.accountsDays(dayQuery(3))).toEqual(expectedDays(early, 3));
      for (const batch of batches(shuffled([...events.filter((e) => !early.includes(e)), ...late], 3), 4))
        await store.insertEvents(batch);
      expect(sortRollups(await store.allRollups())).toEqual(computeRollups(events));
      expect(await store.accountsDays(dayQuery(3))).toEqual(expectedDays(events, 3));
      const from = T0 + HOUR_MS;
      const to = T0 + 7 * HOUR_MS;
      expect(sortRollups(await store.rollups({ account: "a", from, to }))).toEqual(
        computeRollups(events).filter((r) => r.account === "a" && r.hour >= from && r.hour < to),
      );
    } finally {
      await store.close();
    }
  });
});

describe("PostgresUsageStore rebuilding events stored before series were keyed by dims", () => {
  it("moves each event to the series its kept dims name, and drops the old series' latest reading", async () => {
    const schema = freshSchema();
    const level = (id: string, time: number, value: bigint, dims: UsageEvent["dims"]) =>
      event({ id, metric: "storage.bytes", kind: "level", time: T0 + time, value, dims });
    const events = [
      level("1", 0, 5n, { media: "tape" }),
      level("2", HOUR_MS, 8n, { media: "tape", note: "x" }),
      level("3", 2 * HOUR_MS, 3n, null),
      event({ id: "4", time: T0, value: 2n, dims: { site: "S" } }),
      event({ id: "5", time: T0 + 1, value: 1n, dims: null }),
      { ...level("6", 0, 100n, { media: "disk" }), instance: "b" },
    ];
    const store = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
    try {
      await store.insertEvents(events);
      // As an older Tally stored them: every event in the series of its other fields, which held the latest reading.
      const pg = await import("pg");
      const client = new pg.default.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO series (server, account, metric, instance, dims, kind, last_time, last_id, last_value)
           SELECT server, account, metric, instance, '', kind, last_time, last_id, last_value FROM series
           WHERE dims <> '' ON CONFLICT DO NOTHING`,
        );
        await client.query(
          `UPDATE events e SET series_id = p.id FROM series s, series p
           WHERE s.id = e.series_id AND p.server = s.server AND p.account = s.account AND p.metric = s.metric
             AND p.instance = s.instance AND p.dims = ''`,
        );
        await client.query("DELETE FROM series WHERE dims <> ''");
        await client.query("DELETE FROM rollups");
      } finally {
        await client.end();
      }
      await store.rebuildRollups();
      expect(sortRollups(await store.allRollups())).toEqual(computeRollups(events));
      const levels = await store.currentLevels({ metric: "storage.bytes" });
      expect(levels.map((l) => [l.dims, l.value])).toEqual([
        [{}, 3n],
        [{ media: "tape" }, 8n],
        [{ media: "disk" }, 100n],
      ]);
      const table = await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
      expect(table.rows.map((r) => r.total)).toEqual([111n]);
    } finally {
      await store.close();
    }
  });
});

describe("openPostgresStore", () => {
  it("applies its migrations once, however many nodes open the schema at once", async () => {
    const schema = freshSchema();
    const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore({ url, schema })));
    const last = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
    try {
      const pg = await import("pg");
      const client = new pg.default.Client({ connectionString: url });
      await client.connect();
      try {
        const applied = await client.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
        expect(applied.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
      } finally {
        await client.end();
      }
    } finally {
      for (const s of stores) await s.close();
      await last.close();
    }
  });

  it("describes where it is without the password", async () => {
    const withPassword = new URL(url);
    withPassword.password = "s3cret-pw";
    const schema = freshSchema();
    const store = await openPostgresStore({ url: withPassword.toString(), schema, dropSchemaOnClose: true });
    try {
      expect(store.description).toContain(`(schema ${schema})`);
      expect(store.description).not.toContain("s3cret-pw");
    } finally {
      await store.close();
    }
    expect(describeUrl("postgres://u:pw@db.example:6543/tally")).toBe("postgres://db.example:6543/tally");
  });

  it("refuses a schema name that is not a plain identifier", async () => {
    await expect(openPostgresStore({ url, schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(/schema/);
  });

  it("says what to do when its user may not create the extension the search needs", async () => {
    // A database of its own, where pg_trgm is not installed yet, and a user who may not create extensions (nor
    // schemas) in it, with a schema of its own name, which its search_path starts with.
    const name = `tally_noext_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const at = (database: string, user = "postgres") => {
      const u = new URL(url);
      u.username = user;
      u.pathname = `/${database}`;
      return u.toString();
    };
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.query(`CREATE ROLE ${name} LOGIN`);
      const inside = new pg.Client({ connectionString: at(name) });
      await inside.connect();
      await inside.query(`CREATE SCHEMA ${name} AUTHORIZATION ${name}`);
      await inside.end();
      await expect(openPostgresStore({ url: at(name, name) })).rejects.toThrow(
        `the usage search needs the extension pg_trgm, which ${name} cannot create here`,
      );
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${name}`);
      await admin.end();
    }
  });

  it("fails, naming where, when PostgreSQL is unreachable", async () => {
    await expect(openPostgresStore({ url: "postgres://postgres@127.0.0.1:1/test" })).rejects.toThrow(
      /127\.0\.0\.1:1\/test/,
    );
  });
});

describe("PostgresUsageStore reading pages of accounts", () => {
  it("cannot look accounts up through the search's trigram index", async () => {
    const store = await open();
    const client = await store.pool.connect();
    try {
      await store.insertEvents([event({ id: "t1", account: "AUTH_0001", metric: "storage.bytes", kind: "level" })]);
      // Every id shares the trigrams of its prefix: a lookup by trigrams reads every series of the store. With
      // the btree indexes gone (and the transaction rolled back), the planner shows what else it could use.
      await client.query("BEGIN");
      await client.query("DROP INDEX series_account, series_metric");
      await client.query("ALTER TABLE series DROP CONSTRAINT series_key");
      await client.query("SET LOCAL enable_seqscan = off");
      const plan = await client.query<{ "QUERY PLAN": string }>(
        "EXPLAIN SELECT id FROM series WHERE account = ANY($1::text[])",
        [["AUTH_0001", "AUTH_0002"]],
      );
      expect(plan.rows.map((r) => r["QUERY PLAN"]).join("\n")).not.toContain("trigrams");
      await client.query("ROLLBACK");
      // The search still finds accounts through it.
      await client.query("BEGIN");
      await client.query("SET LOCAL enable_seqscan = off");
      const search = await client.query<{ "QUERY PLAN": string }>(
        "EXPLAIN SELECT account FROM series WHERE (account || '') ILIKE $1",
        ["%0001%"],
      );
      expect(search.rows.map((r) => r["QUERY PLAN"]).join("\n")).toContain("trigrams");
      await client.query("ROLLBACK");
    } finally {
      await client.query("ROLLBACK");
      client.release();
      await store.close();
    }
  });
});

describe("PostgresUsageStore rewriting a level's latest reading", () => {
  it("keeps series rows on their pages, so that the updates add nothing to the series' indexes", async () => {
    const store = await open();
    try {
      const accounts = Array.from({ length: 400 }, (_, i) => `AUTH_${String(i).padStart(4, "0")}`);
      const round = (r: number) =>
        store.insertEvents(
          accounts.map((account, i) =>
            event({ id: `r${r}-${i}`, account, metric: "storage.bytes", kind: "level", time: T0 + r * HOUR_MS }),
          ),
        );
      // The page of each series row: an update that moves a row to another page adds it to every index.
      const pages = async () => {
        const rows = await store.pool.query<{ id: string; page: string }>(
          "SELECT id, (ctid::text::point)[0] AS page FROM series",
        );
        return new Map(rows.rows.map((r) => [r.id, r.page]));
      };
      await round(0);
      await round(1);
      const before = await pages();
      await round(2);
      const after = await pages();
      const moved = [...after].filter(([id, page]) => before.get(id) !== page).length;
      expect(after.size).toBe(400);
      expect(moved).toBeLessThan(40);
      expect(await store.currentLevels({ metric: "storage.bytes", accounts: ["AUTH_0000"] })).toMatchObject([
        { value: 1n, time: T0 + 2 * HOUR_MS },
      ]);
    } finally {
      await store.close();
    }
  });
});
