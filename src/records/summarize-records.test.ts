import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { openPostgresBackend } from "../backend/postgres.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { event } from "../store/contract-events.js";
import { freshSchema, TEST_POSTGRES_URL } from "../store/test-stores.js";
import { importStarRecords } from "./import-star.js";
import { parseStarDocument } from "./parse-star.js";
import { parseStarConfig } from "./star-config.js";
import { parseSummaryRequest, summarizeRecords, summaryCsv, summaryJson } from "./summarize-records.js";
import { starDocumentXml } from "./write-star.js";

const BACKENDS: readonly (readonly [string, () => Promise<Backend>])[] = [
  ["SQLite", () => openSqliteBackend({ path: ":memory:", recentKeySlots: 64 })],
  ["PostgreSQL", () => openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true })],
];
const D = (day: number, hour = 0) => Date.UTC(2026, 0, 1 + day, hour);
const config = parseStarConfig({ site: "HOME" });

describe.each(BACKENDS)("records summary on %s", (_name, open) => {
  let backend: Backend;
  beforeEach(async () => {
    backend = await open();
  });
  afterEach(async () => {
    await backend.close();
  });

  it("sums daily averages of metered usage and imported records per site, system, media and group", async () => {
    // Metered: 100 bytes all of day 0 and day 1, on a disk share, for the cms group.
    await backend.events.insertEvents([
      event({
        id: "m1",
        server: "s1",
        account: "AUTH_m",
        metric: "storage.bytes",
        kind: "level",
        time: D(-1),
        value: 100n,
        dims: { group: "cms", media: "disk" },
      }),
    ]);
    // Imported: 48 bytes for half of day 0, at another site, for cms too.
    const xml = starDocumentXml([
      {
        recordId: "r1",
        createTime: D(5),
        storageSystem: "se2",
        site: "AWAY",
        storageMedia: "disk",
        subject: { group: "cms" },
        startTime: D(0, 12),
        endTime: D(1),
        resourceCapacityUsed: 48n,
        fileCount: 2n,
      },
    ]);
    expect(await importStarRecords(backend, parseStarDocument(Buffer.from(xml)), { config })).toMatchObject({
      imported: 1,
    });
    const request = parseSummaryRequest({ from: "2026-01-01", to: "2026-01-03", by: "site,system,group" }, 366);
    const rows = await summarizeRecords(backend.usage, request, config);
    expect(summaryJson(request, rows)).toEqual({
      from: "2026-01-01T00:00:00.000Z",
      to: "2026-01-03T00:00:00.000Z",
      by: ["site", "system", "group"],
      rows: [
        {
          site: "AWAY",
          system: "se2",
          group: "cms",
          records: 1,
          resource_capacity_used: "12",
          logical_capacity_used: "0",
          resource_capacity_allocated: "0",
          file_count: "0",
        },
        {
          site: "HOME",
          system: "s1",
          group: "cms",
          records: 2,
          resource_capacity_used: "100",
          logical_capacity_used: "0",
          resource_capacity_allocated: "0",
          file_count: "0",
        },
      ],
    });
    const byMedia = parseSummaryRequest({ from: "2026-01-01", to: "2026-01-03", by: "media,day", format: "csv" }, 366);
    expect(summaryCsv(byMedia, await summarizeRecords(backend.usage, byMedia, config))).toBe(
      "media,day,records,resource_capacity_used,logical_capacity_used,resource_capacity_allocated,file_count\n" +
        "disk,2026-01-01,2,124,0,0,1\n" +
        "disk,2026-01-02,1,100,0,0,0\n",
    );
  });

  it("names what is wrong with a request", () => {
    expect(() => parseSummaryRequest({ from: "2026-01-01", to: "2026-01-02", by: "vo" }, 366)).toThrow(
      'by may name site, system, share, media, class, group, role, day; not "vo"',
    );
    expect(() => parseSummaryRequest({ from: "2026-01-01T01:00:00Z", to: "2026-01-02" }, 366)).toThrow(
      "from and to must be dates (00:00 UTC)",
    );
    expect(() => parseSummaryRequest({ from: "2026-01-01", to: "2027-01-05" }, 366)).toThrow("more than 366 days");
    expect(() => parseSummaryRequest({ from: "2026-01-01", to: "2026-01-02", format: "xml" }, 366)).toThrow(
      'format must be json or csv, not "xml"',
    );
  });
});
