// The UsageStore contract's rollups: hourly and daily rollups of counters, levels and states, in order and late,
// against computeRollups, the reference; part of the suite in contract.ts.

import fc from "fast-check";
import { beforeEach, expect, it } from "vitest";
import { DAY_MS, daysOfHours, rollupsHeldUntil } from "../domain/day-usage.js";
import type { UsageEvent } from "../domain/event.js";
import { compareUtf8, computeRollups, sortRollups } from "../domain/rollup.js";
import { HOUR_MS } from "../domain/time.js";
import { arbitraryEvents, event, insertShuffled, T0 } from "./contract-events.js";
import type { UsageStore } from "./port.js";

/**
 * The rollup tests, on the store `current` gives (the one the suite opened for the test) and, where a property
 * needs a fresh store per case, on stores `open` gives.
 */
export function describeRollupContract(current: () => UsageStore, open: () => Promise<UsageStore>): void {
  let store: UsageStore;
  beforeEach(() => {
    store = current();
  });

  it("sums counters per hour", async () => {
    await store.insertEvents([
      event({ id: "1", value: 3n }),
      event({ id: "2", value: 4n, time: T0 + 10 }),
      event({ id: "3", value: 5n, time: T0 + HOUR_MS }),
    ]);
    const rows = await store.allRollups();
    expect(rows.map((r) => [r.hour - T0, r.sum, r.count])).toEqual([
      [0, 7n, 2],
      [HOUR_MS, 5n, 1],
    ]);
  });

  it("integrates a level over the hours it holds, up to the latest reading", async () => {
    const level = (id: string, t: number, v: bigint) =>
      event({ id, metric: "storage.bytes", kind: "level", time: T0 + t, value: v });
    await store.insertEvents([level("a", 30 * 60_000, 100n), level("b", 2 * HOUR_MS + 60_000, 40n)]);
    const rows = await store.allRollups();
    expect(rows.map((r) => [r.hour - T0, r.count, r.last, r.max, r.integral])).toEqual([
      [0, 1, 100n, 100n, 100n * 30n * 60_000n],
      [HOUR_MS, 0, 100n, 100n, 100n * 3_600_000n],
      [2 * HOUR_MS, 1, 40n, 100n, 100n * 60_000n],
    ]);
  });

  it("keys series by their kept dims, in rollups, current levels and the usage table", async () => {
    const level = (id: string, time: number, value: bigint, dims: UsageEvent["dims"]) =>
      event({ id, metric: "storage.bytes", kind: "level", time: T0 + time, value, dims });
    const events = [
      level("1", 0, 5n, null),
      level("2", 1, 10n, { media: "disk", note: "dropped" }),
      level("3", 2, 20n, { note: "x", media: "tape" }),
      level("4", 3, 25n, { media: "tape" }),
      level("5", 4, 7n, { note: "only" }),
      event({ id: "6", time: T0, value: 3n, dims: { site: "DESY" } }),
    ];
    await store.insertEvents(events);
    expect(sortRollups(await store.allRollups())).toEqual(computeRollups(events));
    const levels = await store.currentLevels({ metric: "storage.bytes" });
    expect(levels.map((l) => [l.dims, l.value])).toEqual([
      [{}, 7n],
      [{ media: "disk" }, 10n],
      [{ media: "tape" }, 25n],
    ]);
    const counters = await store.rollups({ account: "a1", from: T0, to: T0 + HOUR_MS, metrics: ["requests.get"] });
    expect(counters.map((r) => [r.dims, r.sum])).toEqual([[{ site: "DESY" }, 3n]]);
    const table = await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 10 });
    expect(table.rows.map((r) => [r.account, r.total])).toEqual([["a1", 42n]]);
  });

  it("sums counters per metric and hour as their rollups add up, over hours and whole days, exactly beyond 64 bits", async () => {
    // Three days of events and ranges from an hour to three days, whole days or not, of every server or some.
    const arbCase = fc.tuple(
      arbitraryEvents(72),
      fc.integer({ min: -2, max: 72 }),
      fc.integer({ min: 0, max: 74 }),
      fc.boolean(),
      fc.constantFrom<readonly string[] | undefined>(undefined, ["s1"], ["s2", "s3"], []),
    );
    await fc.assert(
      fc.asyncProperty(arbCase, async ([events, fromHour, hours, byHour, servers]) => {
        const fresh = await open();
        try {
          await fresh.insertEvents(events);
          const from = T0 + fromHour * HOUR_MS;
          const to = from + hours * HOUR_MS;
          const expected = new Map<string, bigint>();
          for (const r of computeRollups(events)) {
            if (r.account !== "a" || r.kind !== "counter" || r.hour < from || r.hour >= to) continue;
            if (servers !== undefined && !servers.includes(r.server)) continue;
            const key = `${r.metric} ${byHour ? r.hour : null}`;
            expected.set(key, (expected.get(key) ?? 0n) + (r.sum as bigint));
          }
          const query = { account: "a", from, to, metrics: ["requests.put", "storage.bytes"], byHour, servers };
          const sums = await fresh.counterSums(query);
          expect(new Map(sums.map((s) => [`${s.metric} ${s.hour}`, s.sum]))).toEqual(expected);
        } finally {
          await fresh.close();
        }
      }),
      { numRuns: 12 },
    );
  });

  it("sums counters exactly when their sum leaves 64 bits", async () => {
    const big = 2n ** 62n + 7n;
    const events = [1, 2, 3].map((i) => event({ id: `c${i}`, account: "a", value: big, instance: `b${i}` }));
    await store.insertEvents(events);
    const query = { account: "a", from: T0, to: T0 + HOUR_MS, metrics: ["requests.get"], byHour: false };
    expect(await store.counterSums(query)).toEqual([{ metric: "requests.get", hour: null, sum: 3n * big }]);
  });

  it("sums a series' hours of one day given in one batch and in later ones, by hour and in total", async () => {
    const big = 2n ** 64n + 1n;
    const at = (id: string, hours: number, value: bigint) =>
      event({ id, account: "a", metric: "requests.get", time: T0 + hours * HOUR_MS + 60_000, value });
    await store.insertEvents([at("h1", 1, 5n), at("h2", 2, 7n), at("h5", 5, big), at("h1b", 1, 1n), at("d2", 27, 3n)]);
    await store.insertEvents([at("h2b", 2, 10n), at("h7", 7, 4n)]);
    await store.insertEvents([at("h5b", 5, big)]);
    const query = { account: "a", from: T0, to: T0 + 2 * DAY_MS, metrics: ["requests.get"], byHour: true };
    const hour = (h: number, sum: bigint) => ({ metric: "requests.get", hour: T0 + h * HOUR_MS, sum });
    expect(await store.counterSums(query)).toEqual([
      hour(1, 6n),
      hour(2, 17n),
      hour(5, 2n * big),
      hour(7, 4n),
      hour(27, 3n),
    ]);
    const total = (from: number, to: number) =>
      store.counterSums({ ...query, from: T0 + from * HOUR_MS, to: T0 + to * HOUR_MS, byHour: false });
    expect(await total(0, 48)).toEqual([{ metric: "requests.get", hour: null, sum: 2n * big + 30n }]);
    expect(await total(2, 28)).toEqual([{ metric: "requests.get", hour: null, sum: 2n * big + 24n }]);
  });

  it("sums only the account's series of the servers asked for, whatever series were made between them", async () => {
    // Series made in turn for two accounts and two servers, so that each account's ids have the other's between
    // them; traffic in the hours before and after two whole days, and on the whole days.
    const events: UsageEvent[] = [];
    for (const [h, value] of [
      [5, 1n],
      [23, 2n],
      [30, 4n],
      [50, 8n],
      [73, 16n],
    ] as const) {
      for (const server of ["s1", "s2"]) {
        for (const account of ["a", "b"]) {
          for (const metric of ["requests.get", "requests.put"]) {
            const v = account === "a" ? value : value * 1000n;
            const id = `${metric}-${account}-${server}-${h}`;
            events.push(
              event({ id, account, server, metric, time: T0 + h * HOUR_MS, value: server === "s2" ? 2n * v : v }),
            );
          }
        }
      }
    }
    await store.insertEvents(events);
    const query = { account: "a", metrics: ["requests.put"], from: T0 + 20 * HOUR_MS, to: T0 + 74 * HOUR_MS };
    const hour = (h: number, sum: bigint) => ({ metric: "requests.put", hour: T0 + h * HOUR_MS, sum });
    expect(await store.counterSums({ ...query, byHour: true })).toEqual([
      hour(23, 6n),
      hour(30, 12n),
      hour(50, 24n),
      hour(73, 48n),
    ]);
    expect(await store.counterSums({ ...query, byHour: true, servers: ["s2"] })).toEqual([
      hour(23, 4n),
      hour(30, 8n),
      hour(50, 16n),
      hour(73, 32n),
    ]);
    expect(await store.counterSums({ ...query, byHour: false })).toEqual([
      { metric: "requests.put", hour: null, sum: 90n },
    ]);
    expect(await store.counterSums({ ...query, byHour: false, servers: ["s1"] })).toEqual([
      { metric: "requests.put", hour: null, sum: 30n },
    ]);
  });

  it("keeps apart the rollups of series and hours centuries apart", async () => {
    // Hours 2^21 apart (239 years) and in the year 9999, of series created one after the other: what a key
    // packing a series and an hour into one number would confuse.
    const far = 2 ** 21 * HOUR_MS;
    const last = Date.UTC(9999, 11, 31, 23);
    const level = { metric: "storage.bytes", kind: "level" as const };
    const events = [
      event({ id: "1", ...level, time: far + 10 * HOUR_MS, value: 32n }),
      event({ id: "2", ...level, time: 10 * HOUR_MS, value: 16n, account: "a0" }),
      event({ id: "3", time: last, value: 1n }),
      event({ id: "4", time: last, value: 2n, account: "a0" }),
      event({ id: "5", time: 10 * HOUR_MS, value: 4n }),
    ];
    await store.insertEvents(events);
    expect(sortRollups(await store.allRollups())).toEqual(computeRollups(events));
  });

  it("gives the same rollups for shuffled input as for ordered input", async () => {
    const arbEvents = arbitraryEvents(6);
    const arbDelivery = arbEvents.chain((events) =>
      fc.tuple(
        fc.constant(events),
        fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arbDelivery, fc.integer({ min: 1, max: 7 }), async ([events, shuffled], batchSize) => {
        const fresh = await open();
        try {
          for (let i = 0; i < shuffled.length; i += batchSize) {
            await fresh.insertEvents(shuffled.slice(i, i + batchSize));
          }
          expect(sortRollups(await fresh.allRollups())).toEqual(computeRollups(events));
        } finally {
          await fresh.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it("gives the same rollups and ranges for levels read many times over days, in any order and batches", async () => {
    // Two series read at times in clusters days apart, with hours and days without readings between them: the
    // searches for a late reading's neighbours and for a range's edges must cross those hours.
    const arbReadings = fc
      .array(
        fc.record({
          instance: fc.constantFrom("", "b"),
          day: fc.integer({ min: 0, max: 6 }),
          offset: fc.integer({ min: 0, max: 5 * HOUR_MS }),
          value: fc.bigInt({ min: 0n, max: 2n ** 60n }),
        }),
        { minLength: 1, maxLength: 60 },
      )
      .map((raw) =>
        raw.map((r, i) =>
          event({
            id: `l${i}`,
            metric: "storage.bytes",
            kind: "level",
            instance: r.instance,
            value: r.value,
            time: T0 + r.day * 24 * HOUR_MS + r.offset,
          }),
        ),
      );
    const arbCase = arbReadings.chain((events) =>
      fc.tuple(
        fc.constant(events),
        fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: -2, max: 24 * 7 }),
        fc.integer({ min: 0, max: 24 * 3 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arbCase, async ([events, shuffled, batchSize, fromHour, hours]) => {
        const fresh = await open();
        try {
          for (let i = 0; i < shuffled.length; i += batchSize) {
            await fresh.insertEvents(shuffled.slice(i, i + batchSize));
          }
          const expected = computeRollups(events);
          expect(sortRollups(await fresh.allRollups())).toEqual(expected);
          const from = T0 + fromHour * HOUR_MS;
          const to = from + hours * HOUR_MS;
          expect(sortRollups(await fresh.rollups({ account: "a1", from, to }))).toEqual(
            expected.filter((r) => r.hour >= from && r.hour < to),
          );
        } finally {
          await fresh.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it("keeps every reading of an hour read many times, each read back before the next arrives, in any order", async () => {
    // A read writes what the store holds: each reading then finds the hour's others on disk, the hour's latest too.
    const minutes = [0, 5, 10, 10, 20, 30, 45, 59, 60 + 15, -20];
    const readings = minutes.map((m, i) =>
      event({ id: `h${i}`, metric: "storage.bytes", kind: "level", value: BigInt(100 + i), time: T0 + m * 60_000 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(readings, { minLength: readings.length }), async (order) => {
        const fresh = await open();
        try {
          for (const [i, e] of order.entries()) {
            await fresh.insertEvents([e]);
            expect(sortRollups(await fresh.allRollups())).toEqual(computeRollups(order.slice(0, i + 1)));
          }
        } finally {
          await fresh.close();
        }
      }),
      { numRuns: 10 },
    );
  });

  it("answers any range of hours with the rows computeRollups gives for it, the hours between readings too", async () => {
    await fc.assert(
      fc.asyncProperty(
        arbitraryEvents(8),
        fc.integer({ min: -1, max: 9 }),
        fc.integer({ min: 0, max: 5 }),
        async (events, fromHour, hours) => {
          const fresh = await open();
          try {
            await fresh.insertEvents(events);
            const from = T0 + fromHour * HOUR_MS;
            const to = from + hours * HOUR_MS;
            const expected = computeRollups(events).filter((r) => r.account === "a" && r.hour >= from && r.hour < to);
            expect(sortRollups(await fresh.rollups({ account: "a", from, to }))).toEqual(expected);
          } finally {
            await fresh.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("pages every account's rollups of some metrics as rollups gives them account by account, also for accounts named", async () => {
    // Events delivered shuffled in batches, so that readings arrive late; accounts renamed so that pages of one
    // and two accounts break between them.
    const names = ["a", "b", "b0", "c\u00e9"];
    const arbCase = arbitraryEvents(8).chain((events) =>
      fc.tuple(
        fc.constant(events),
        fc.array(fc.constantFrom(...names), { minLength: events.length, maxLength: events.length }),
        fc.infiniteStream(fc.nat()),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: -2, max: 9 }),
        fc.integer({ min: 0, max: 6 }),
        fc.subarray(["storage.bytes", "requests.put", "power.on"], { minLength: 1 }),
        fc.integer({ min: 1, max: 3 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arbCase, async ([raw, accounts, order, batchSize, fromHour, hours, metrics, pageAccounts]) => {
        const events = raw.map((e, i) => ({ ...e, account: accounts[i] as string }));
        const fresh = await open();
        try {
          await insertShuffled(fresh, events, order, batchSize);
          const from = T0 + fromHour * HOUR_MS;
          const to = from + hours * HOUR_MS;
          const pages = [];
          for await (const page of fresh.rollupPages({ from, to, metrics, pageAccounts })) pages.push(page);
          const expectedAccounts = [
            ...new Set(events.filter((e) => metrics.includes(e.metric)).map((e) => e.account)),
          ].sort(compareUtf8);
          expect(pages.flatMap((p) => p.accounts)).toEqual(expectedAccounts);
          for (const page of pages) {
            expect(page.accounts.length).toBeLessThanOrEqual(pageAccounts);
            const expected = [];
            for (const account of page.accounts) {
              const own = sortRollups(await fresh.rollups({ account, from, to, metrics }));
              expect(own).toEqual(
                computeRollups(events).filter(
                  (r) => r.account === account && metrics.includes(r.metric) && r.hour >= from && r.hour < to,
                ),
              );
              expected.push(...own);
            }
            expect(page.rows).toEqual(expected);
            // The same accounts asked for by name, with one that has no series, give the page's rows.
            const asked = [...page.accounts].reverse().concat("no such account");
            expect(await fresh.accountsRollups({ accounts: asked, from, to, metrics })).toEqual(page.rows);
          }
          expect(await fresh.accountsRollups({ accounts: [], from, to, metrics })).toEqual([]);
        } finally {
          await fresh.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it("reads accounts' usage by day as their hourly rollups, filled and held to the end, sum by day", async () => {
    // Events over five days delivered shuffled in batches, so that readings arrive late, on either side of a
    // range of whole days that may begin before the first event and end after the last.
    const names = ["a", "b", "c\u00e9"];
    const arbCase = arbitraryEvents(24 * 5).chain((events) =>
      fc.tuple(
        fc.constant(events),
        fc.array(fc.constantFrom(...names), { minLength: events.length, maxLength: events.length }),
        fc.infiniteStream(fc.nat()),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: -2, max: 5 }),
        fc.integer({ min: 0, max: 4 }),
        fc.subarray(["storage.bytes", "requests.put", "power.on"], { minLength: 1 }),
        fc.subarray([...names, "no such account"], { minLength: 1 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arbCase, async ([raw, accounts, order, batchSize, fromDay, days, metrics, asked]) => {
        const events = raw.map((e, i) => ({ ...e, account: accounts[i] as string }));
        const fresh = await open();
        try {
          await insertShuffled(fresh, events, order, batchSize);
          const from = T0 + fromDay * DAY_MS;
          const to = from + days * DAY_MS;
          const read = events.filter((e) => asked.includes(e.account) && metrics.includes(e.metric));
          const expected = daysOfHours(rollupsHeldUntil(read, to), from, to);
          expect(await fresh.accountsDays({ accounts: asked, from, to, metrics })).toEqual(expected);
          await fresh.rebuildRollups();
          expect(await fresh.accountsDays({ accounts: asked, from, to, metrics })).toEqual(expected);
        } finally {
          await fresh.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it("holds a level read once through every day after it, and refuses a range not on whole days", async () => {
    await store.insertEvents([
      event({ id: "1", metric: "storage.bytes", kind: "level", value: 2n ** 62n, time: T0 + 6 * HOUR_MS }),
      event({ id: "2", value: 3n, time: T0 + 30 * HOUR_MS }),
    ]);
    const days = await store.accountsDays({
      accounts: ["a1"],
      from: T0,
      to: T0 + 3 * DAY_MS,
      metrics: ["storage.bytes", "requests.get"],
    });
    const level = { server: "s1", account: "a1", metric: "storage.bytes", instance: "", dims: {}, kind: "level" };
    const held = { ...level, sum: null, last: 2n ** 62n };
    expect(days).toEqual([
      {
        ...level,
        metric: "requests.get",
        kind: "counter",
        day: T0 + DAY_MS,
        count: 1,
        sum: 3n,
        integral: null,
        last: null,
      },
      { ...held, day: T0, count: 1, integral: 2n ** 62n * BigInt(18 * HOUR_MS) },
      { ...held, day: T0 + DAY_MS, count: 0, integral: 2n ** 62n * BigInt(DAY_MS) },
      { ...held, day: T0 + 2 * DAY_MS, count: 0, integral: 2n ** 62n * BigInt(DAY_MS) },
    ]);
    await expect(
      store.accountsDays({ accounts: ["a1"], from: T0 + HOUR_MS, to: T0 + DAY_MS, metrics: ["storage.bytes"] }),
    ).rejects.toThrow(/whole days/);
  });

  it("rebuilds rollups from events to exactly what incremental maintenance gave", async () => {
    await store.insertEvents([
      event({ id: "1", metric: "storage.bytes", kind: "level", value: 10n, time: T0 + 5 * HOUR_MS }),
      event({ id: "2", metric: "storage.bytes", kind: "level", value: 20n, time: T0 }),
      event({ id: "3", value: 2n, time: T0 + HOUR_MS }),
    ]);
    const before = await store.allRollups();
    expect(await store.rebuildRollups()).toEqual({ events: 3, rollups: before.length });
    expect(await store.allRollups()).toEqual(before);
  });

  it("has no derivation lag once a read has seen every event, nor on an empty store", async () => {
    expect(await store.derivationLag()).toEqual({ events: 0, seconds: 0 });
    await store.insertEvents([event({ id: "1" }), event({ id: "2", time: T0 + HOUR_MS })]);
    await store.stats();
    expect(await store.derivationLag()).toEqual({ events: 0, seconds: 0 });
  });
}
