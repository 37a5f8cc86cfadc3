import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { openPostgresBackend } from "../backend/postgres.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { HOUR_MS } from "../domain/time.js";
import { freshSchema, TEST_POSTGRES_URL } from "../store/test-stores.js";
import { exportStarRecords } from "./export-star.js";
import { importStarRecords } from "./import-star.js";
import { parseStarDocument } from "./parse-star.js";
import { STAR_NS, type StarRecord } from "./star.js";
import { parseStarConfig, type StarConfig } from "./star-config.js";
import { starDocumentXml } from "./write-star.js";

const BACKENDS: readonly (readonly [string, () => Promise<Backend>])[] = [
  ["SQLite", () => openSqliteBackend({ path: ":memory:", recentKeySlots: 64 })],
  ["PostgreSQL", () => openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true })],
];
const sample = (name: string) => fs.readFileSync(path.join(import.meta.dirname, "star-samples", name));
const D = (day: number, hour = 0) => Date.UTC(2026, 0, 1 + day, hour);
const config = parseStarConfig({});

const rec = (over: Partial<StarRecord> = {}): StarRecord => ({
  recordId: "r1",
  createTime: D(10),
  storageSystem: "se1",
  startTime: D(0),
  endTime: D(1),
  resourceCapacityUsed: 100n,
  subject: { group: "cms" },
  ...over,
});

describe.each(BACKENDS)("StAR import on %s", (_name, open) => {
  let backend: Backend;
  const run = (doc: Buffer | StarRecord[], options: { config?: StarConfig } = {}) =>
    importStarRecords(backend, parseStarDocument(Array.isArray(doc) ? Buffer.from(starDocumentXml(doc)) : doc), {
      config: options.config ?? config,
    });
  /** Byte-milliseconds of a metric over every hour, summed across the account's series. */
  const integral = async (account: string, metric = "storage.bytes", server?: string) => {
    const rows = await backend.usage.rollups({
      account,
      from: Date.UTC(2010, 0, 1),
      to: D(60),
      metrics: [metric],
      ...(server ? { servers: [server] } : {}),
    });
    return rows.reduce((sum, r) => sum + (r.integral ?? 0n), 0n);
  };
  const levelNow = async (account: string, metric = "storage.bytes") =>
    (await backend.usage.currentLevels({ metric, accounts: [account] })).reduce((s, l) => s + l.value, 0n);

  beforeEach(async () => {
    backend = await open();
  });
  afterEach(async () => {
    await backend.close();
  });

  it("imports the real samples as step functions from StartTime to EndTime", async () => {
    const desy = await run(sample("apel-test_star_parser-star1-dcache-desy-collection.xml"));
    expect(desy).toMatchObject({ records: 1, imported: 1, rejected: 0, problems: [] });
    // 693064064 bytes for ten minutes.
    expect(await integral("cms", "storage.bytes", "discordia.desy.de")).toBe(693064064n * 600_000n);
    expect(await integral("cms", "storage.files", "discordia.desy.de")).toBe(5n * 600_000n);
    expect(await levelNow("cms")).toBe(0n);
    const groups = await run(sample("apel-test_star_parser-group-attribute-collection.xml"));
    expect(groups).toMatchObject({ records: 4, imported: 4, rejected: 0 });
    expect(await integral("cms", "storage.logical_bytes")).toBe((26770352879563n + 194962053020199n) * 86_400_000n);
    expect(await integral("atlas", "storage.logical_bytes")).toBe(6000437876n * 86_400_000n);
    const eos = await run(sample("eos-doc-egi-rst-example-collection.xml"));
    // No SubjectIdentity but a Site: the site names the account.
    expect(await integral("eosdev", "storage.reserved")).toBe(1287017889792n * 86_400_000n);
    expect(eos.imported).toBe(1);
    const draft = await run(sample("sgas-srsampledata-SR_0-collection-measuretime-draft.xml"));
    expect(draft).toMatchObject({ records: 1, imported: 0, rejected: 1 });
    expect(draft.problems[0]).toEqual({
      record: 'record "host.example.org/sr/87912469269276" (line 2)',
      status: "rejected",
      reason: "StartTime is missing; EndTime is missing",
    });
    // Importing a file again changes nothing.
    expect(await run(sample("apel-test_star_parser-group-attribute-collection.xml"))).toMatchObject({ unchanged: 4 });
    expect(await backend.records.count()).toBe(6);
  });

  it("adds records that follow each other, leave gaps or overlap; what it imports, export gives back", async () => {
    await run([
      rec({ recordId: "a", startTime: D(0), endTime: D(1), resourceCapacityUsed: 10n }),
      rec({ recordId: "b", startTime: D(1), endTime: D(2), resourceCapacityUsed: 20n }),
      rec({ recordId: "c", startTime: D(3), endTime: D(4), resourceCapacityUsed: 40n }),
      rec({ recordId: "d", startTime: D(3, 12), endTime: D(3, 18), resourceCapacityUsed: 1n }),
    ]);
    const day = 86_400_000n;
    expect(await integral("cms")).toBe(10n * day + 20n * day + 40n * day + 6n * BigInt(HOUR_MS));
    const out: StarRecord[] = [];
    for await (const r of exportStarRecords(backend.usage, {
      from: D(0),
      to: D(5),
      period: "day",
      capacity: "average",
      config,
      now: 0,
    })) {
      out.push(r);
    }
    const byDay = new Map<number, bigint>();
    for (const r of out) byDay.set(r.startTime, (byDay.get(r.startTime) ?? 0n) + r.resourceCapacityUsed);
    expect([...byDay]).toEqual([
      [D(0), 10n],
      [D(1), 20n],
      [D(3), 40n],
    ]);
    // The record's Group reaches the rollups as a dim: the identity it came with goes out again.
    expect(out[0]?.subject).toEqual({ group: "cms" });
  });

  it("replaces a record by a later version exactly, whatever its interval, and ignores an older one", async () => {
    const day = 86_400_000n;
    await run([rec({ createTime: D(10), startTime: D(0), endTime: D(2), resourceCapacityUsed: 100n, fileCount: 3n })]);
    expect(await integral("cms")).toBe(200n * day);
    const later = await run([rec({ createTime: D(11), startTime: D(1), endTime: D(4), resourceCapacityUsed: 7n })]);
    expect(later).toMatchObject({ replaced: 1 });
    expect(await integral("cms")).toBe(21n * day);
    // The file count the first version had is gone with it.
    expect(await integral("cms", "storage.files")).toBe(0n);
    const older = await run([rec({ createTime: D(10, 12), resourceCapacityUsed: 1n })]);
    expect(older).toMatchObject({ older: 1, replaced: 0 });
    expect(older.problems[0]?.reason).toBe("a version created at 2026-01-12T00:00:00.000Z is already imported");
    expect(await integral("cms")).toBe(21n * day);
    // Back to the first interval, moved to another identity: the old series are emptied.
    await run([rec({ createTime: D(12), subject: { group: "atlas" }, resourceCapacityUsed: 5n })]);
    expect(await integral("cms")).toBe(0n);
    expect(await integral("atlas")).toBe(5n * day);
    // Two versions in one document: the later one wins, in either order.
    await run([
      rec({ recordId: "x", createTime: D(14), resourceCapacityUsed: 9n }),
      rec({ recordId: "x", createTime: D(13), resourceCapacityUsed: 8n }),
    ]);
    expect(await integral("cms")).toBe(9n * day);
  });

  it("imports the valid records of a document and reports the others, naming the record and the element", async () => {
    const doc = Buffer.from(
      `<sr:StorageUsageRecords xmlns:sr="${STAR_NS}">` +
        starDocumentXml([rec({ recordId: "ok" })])
          .split("\n")
          .slice(2, -2)
          .join("\n") +
        `<sr:StorageUsageRecord><sr:RecordIdentity recordId="bad" createTime="2026-01-01T00:00:00Z"/>
          <sr:StorageSystem>se1</sr:StorageSystem><sr:StartTime>2026-01-01T00:00:00Z</sr:StartTime>
          <sr:EndTime>2026-01-02T00:00:00Z</sr:EndTime><sr:ResourceCapacityUsed>1</sr:ResourceCapacityUsed>
        </sr:StorageUsageRecord>` +
        starDocumentXml([rec({ recordId: "huge", resourceCapacityUsed: 10n ** 40n })])
          .split("\n")
          .slice(2, -2)
          .join("\n") +
        starDocumentXml([rec({ recordId: "empty", endTime: D(0) })])
          .split("\n")
          .slice(2, -2)
          .join("\n") +
        "</sr:StorageUsageRecords>",
    );
    const result = await run(doc);
    expect(result).toMatchObject({ records: 4, imported: 1, rejected: 3 });
    expect(result.problems.map((p) => [p.record.replace(/ \(line \d+\)/, ""), p.reason])).toEqual([
      [
        "record 2",
        "RecordIdentity's recordId attribute must be in the StAR namespace (sr:recordId); RecordIdentity's createTime attribute must be in the StAR namespace (sr:createTime); RecordIdentity with sr:recordId and sr:createTime is missing",
      ],
      ['record "huge"', "ResourceCapacityUsed has more than 38 digits"],
      ['record "empty"', "EndTime equals StartTime: the record covers no time"],
    ]);
    expect(await integral("cms")).toBe(100n * 86_400_000n);
    expect(await backend.records.count()).toBe(1);
  });

  it("rejects the records of storage systems the sender may not write", async () => {
    const parsed = parseStarDocument(
      Buffer.from(starDocumentXml([rec(), rec({ recordId: "r2", storageSystem: "se2" })])),
    );
    const gate = (e: { server: string }) =>
      e.server === "se1" ? null : `this token may not send events for ${e.server}`;
    const result = await importStarRecords(backend, parsed, { config, gate });
    expect(result).toMatchObject({ imported: 1, rejected: 1 });
    expect(result.problems[0]?.reason).toBe("this token may not send events for se2");
    expect(await integral("cms", "storage.bytes", "se2")).toBe(0n);
    expect(await integral("cms", "storage.bytes", "se1")).toBe(100n * 86_400_000n);
  });

  it("reads a configured identity as its account", async () => {
    const mapped = parseStarConfig({ accounts: { AUTH_cms: { group: "cms", role: "prod" } } });
    await run([rec({ subject: { group: "cms", groupAttributes: [{ type: "role", value: "prod" }] } })], {
      config: mapped,
    });
    expect(await integral("AUTH_cms")).toBe(100n * 86_400_000n);
  });
});
