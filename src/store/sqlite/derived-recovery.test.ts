import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { UsageEvent } from "../../domain/event.js";
import type { MetricKind } from "../../domain/metric.js";
import { computeRollups, sortRollups } from "../../domain/rollup.js";
import { HOUR_MS } from "../../domain/time.js";
import { event } from "../contract-events.js";
import type { UsageStore } from "../port.js";
import type { StoreLog } from "./derived-database.js";
import { openSqliteStore } from "./sqlite-store.js";
import { derivedPath } from "./store-files.js";

const T0 = Date.UTC(2026, 10, 1);
const PAGE = 4096;
const METRICS: [string, MetricKind][] = [
  ["storage.bytes", "level"],
  ["requests.get", "counter"],
  ["bytes.in", "counter"],
  ["storage.files", "level"],
  ["service.up", "state"],
];

/** Events of every kind over a few servers, accounts, instances and 500 hours, out of order. */
function manyEvents(count: number, from = 0): UsageEvent[] {
  return Array.from({ length: count }, (_, n) => {
    const i = from + n;
    const [metric, kind] = METRICS[i % METRICS.length] as [string, MetricKind];
    return event({
      id: `e${i}`,
      server: `s${i % 5}`,
      account: `acct-${i % 97}`,
      instance: `b${i % 4}`,
      metric,
      kind,
      time: T0 + ((i * 7919) % 500) * (HOUR_MS / 10),
      value: kind === "state" ? BigInt(i % 2) : BigInt(((i * 13) % 1000) + 1),
    });
  });
}

/** What a store derives: every rollup, the current levels and the usage table. */
async function derivedView(store: UsageStore) {
  return {
    rollups: sortRollups(await store.allRollups()),
    levels: await store.currentLevels({ metric: "storage.bytes" }),
    table: await store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 100 }),
  };
}

/** A logger that keeps what it is told. */
function recordingLog() {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const errors: string[] = [];
  const log: StoreLog = {
    info: () => {},
    warn: (fields, message) => warnings.push({ fields: fields as Record<string, unknown>, message }),
    error: (_, message) => errors.push(message),
  };
  return Object.assign(log, { warnings, errors });
}

/** Overwrites pages of a file, whole, with a pattern that is no valid b-tree page. */
function overwritePages(file: string, pages: readonly number[]): void {
  const fd = fs.openSync(file, "r+");
  try {
    for (const page of pages) fs.writeSync(fd, Buffer.alloc(PAGE, 0x5a), 0, PAGE, page * PAGE);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every fifth page of the middle third of a file. */
function middlePages(file: string): number[] {
  const pages = Math.floor(fs.statSync(file).size / PAGE);
  const middle: number[] = [];
  for (let p = Math.floor(pages / 3); p < (2 * pages) / 3; p += 5) middle.push(p);
  return middle;
}

describe("SqliteUsageStore with a damaged derived database", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tally-recovery-"));
  let dirs = 0;
  const few = manyEvents(2_000);
  const many = manyEvents(20_000);
  let expectedFew: Awaited<ReturnType<typeof derivedView>>;
  let expectedMany: Awaited<ReturnType<typeof derivedView>>;

  beforeAll(async () => {
    for (const [events, set] of [
      [few, (v: typeof expectedFew) => (expectedFew = v)],
      [many, (v: typeof expectedMany) => (expectedMany = v)],
    ] as const) {
      const reference = await openSqliteStore({ path: ":memory:" });
      await reference.insertEvents(events);
      set(await derivedView(reference));
      await reference.close();
    }
    expect(expectedFew.rollups).toEqual(computeRollups(few));
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A closed store holding the events, in a directory of its own; returns its file. */
  async function storeWith(events: readonly UsageEvent[]): Promise<string> {
    const dir = path.join(root, `store-${++dirs}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, "tally.sqlite");
    const store = await openSqliteStore({ path: file });
    await store.insertEvents(events);
    await store.close();
    return file;
  }

  /** The files a damaged derived database was moved to, by name. */
  function movedAside(file: string): string[] {
    const derived = path.basename(derivedPath(file));
    return fs
      .readdirSync(path.dirname(file))
      .filter((name) => name.startsWith(`${derived}.damaged-`))
      .sort();
  }

  /** Checks the one warning: where the derived database went, and that it is derived again from the log. */
  function expectMovedAside(file: string, log: ReturnType<typeof recordingLog>): void {
    const moved = movedAside(file);
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatch(/^tally-derived\.sqlite\.damaged-\d{8}T\d{6}Z$/);
    const target = path.join(path.dirname(file), moved[0] as string);
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]?.fields.movedTo).toBe(target);
    expect(log.warnings[0]?.message).toContain(`moved it to ${target}; deriving it again from the event log`);
    expect(fs.existsSync(file)).toBe(true);
  }

  const damages: [string, (derived: string) => void][] = [
    ["its header zeroed", (derived) => fs.writeFileSync(derived, Buffer.alloc(100), { flag: "r+" })],
    ["truncated", (derived) => fs.truncateSync(derived, Math.floor(fs.statSync(derived).size / 2))],
    ["replaced by text", (derived) => fs.writeFileSync(derived, "these are not the rollups you are looking for\n")],
  ];

  for (const [how, damage] of damages) {
    it(`moves a derived database ${how} aside on open and derives it again from the log`, async () => {
      const file = await storeWith(few);
      damage(derivedPath(file));
      const log = recordingLog();
      const store = await openSqliteStore({ path: file, logger: log });
      try {
        expectMovedAside(file, log);
        expect(await derivedView(store)).toEqual(expectedFew);
        expect((await store.stats()).events).toBe(few.length);
      } finally {
        await store.close();
      }
    });
  }

  it("moves a derived database with damaged pages aside when a read finds them, and answers from a new one", async () => {
    const file = await storeWith(many);
    overwritePages(derivedPath(file), middlePages(derivedPath(file)));
    const log = recordingLog();
    const store = await openSqliteStore({ path: file, logger: log });
    try {
      // The damage is found by the first read; the reads beside it wait for the same new database.
      const [rollups, levels, table] = await Promise.all([
        store.allRollups(),
        store.currentLevels({ metric: "storage.bytes" }),
        store.usageTable({ metric: "storage.bytes", sort: { by: "total" }, limit: 100 }),
      ]);
      expect({ rollups: sortRollups(rollups), levels, table }).toEqual(expectedMany);
      expectMovedAside(file, log);
      expect(await derivedView(store)).toEqual(expectedMany);
    } finally {
      await store.close();
    }
  });

  it("replaces a derived database with damaged pages while events arrive, and derives them all", async () => {
    const file = await storeWith(many.slice(0, 15_000));
    overwritePages(derivedPath(file), middlePages(derivedPath(file)));
    const log = recordingLog();
    const store = await openSqliteStore({ path: file, logger: log, derivedFlushEvents: 500 });
    try {
      for (let i = 15_000; i < many.length; i += 1_000) await store.insertEvents(many.slice(i, i + 1_000));
      // Found by the worker as it writes behind, with no read to find it.
      await vi.waitFor(() => expect(log.warnings).toHaveLength(1), { timeout: 20_000 });
      expect(await derivedView(store)).toEqual(expectedMany);
      expectMovedAside(file, log);
    } finally {
      await store.close();
    }
  });

  it("moves aside a derived database that covers events the log does not hold", async () => {
    const file = await storeWith(few);
    const other = await storeWith(manyEvents(2_500));
    fs.copyFileSync(derivedPath(other), derivedPath(file));
    const log = recordingLog();
    const store = await openSqliteStore({ path: file, logger: log });
    try {
      expectMovedAside(file, log);
      expect(log.warnings[0]?.fields.reason).toMatch(/covers 2500 events, and the event log holds 2000/);
      expect(await derivedView(store)).toEqual(expectedFew);
    } finally {
      await store.close();
    }
  });

  it("leaves the derived database alone when the damage a read finds is in the event log", async () => {
    const file = await storeWith(few);
    const derivedBefore = fs.readFileSync(derivedPath(file));
    // The servers table, in the log: every read of the derived tables joins it for the servers' names.
    const db = new Database(file, { readonly: true });
    const root = Number(db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'servers'").pluck().get());
    db.close();
    overwritePages(file, [root - 1]);
    const log = recordingLog();
    const store = await openSqliteStore({ path: file, logger: log });
    try {
      await expect(store.currentLevels({ metric: "storage.bytes" })).rejects.toThrow(/malformed/);
      expect(log.errors).toEqual([
        expect.stringMatching(/the derived database checks out: the event log .* may be damaged/),
      ]);
      expect(movedAside(file)).toEqual([]);
    } finally {
      await store.close().catch(() => {});
    }
    expect(fs.readFileSync(derivedPath(file)).equals(derivedBefore)).toBe(true);
  });
});
