// The records routes in the app, on SQLite: who may call them, and what a hostile or wrong request gets.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend } from "../../backend/backend.js";
import { STAR_NS } from "../../records/star.js";
import { openTestApp, type TestApp } from "../test-app.js";

const doc = (inner = "") => `<sr:StorageUsageRecords xmlns:sr="${STAR_NS}">${inner}</sr:StorageUsageRecords>`;
const record = (system: string) =>
  `<sr:StorageUsageRecord><sr:RecordIdentity sr:recordId="r-${system}" sr:createTime="2026-01-05T00:00:00Z"/>
   <sr:StorageSystem>${system}</sr:StorageSystem><sr:StartTime>2026-01-01T00:00:00Z</sr:StartTime>
   <sr:EndTime>2026-01-02T00:00:00Z</sr:EndTime><sr:ResourceCapacityUsed>5</sr:ResourceCapacityUsed></sr:StorageUsageRecord>`;

describe("records routes", () => {
  let backend: Backend;
  let app: TestApp["app"];
  let tokens: Record<string, string>;
  beforeEach(async () => {
    ({ backend, app, tokens } = await openTestApp({ account: "a", ingestServers: ["se1"] }));
  });
  afterEach(async () => {
    await backend.close();
  });
  const post = (token: string | undefined, body: string, type = "application/xml") =>
    app.request("/v1/records/star", {
      method: "POST",
      headers: { "content-type": type, ...(token ? { "X-Auth-Token": token } : {}) },
      body,
    });
  const get = (token: string | undefined, path: string) =>
    app.request(path, { headers: token ? { "X-Auth-Token": token } : {} });

  it("imports for admin and ingest tokens, an ingest token only for its servers", async () => {
    const res = await post(tokens.ingest, doc(record("se1") + record("se2")));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { imported: number; rejected: number; problems: { reason: string }[] };
    expect(body).toMatchObject({ imported: 1, rejected: 1 });
    expect(body.problems[0]?.reason).toMatch(/se2/);
    expect((await post(tokens.read, doc())).status).toBe(403);
    expect((await post(tokens.account, doc())).status).toBe(403);
    expect((await post(undefined, doc())).status).toBe(401);
  });

  it("refuses DOCTYPEs, bodies over the limit and other content types, changing nothing", async () => {
    const bomb = `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>${doc("&b;")}`;
    const refused = await post(tokens.admin, bomb);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      error: {
        code: "VALIDATION",
        message: "the StAR document has a DOCTYPE (line 1); DOCTYPE declarations are refused",
      },
    });
    expect((await post(tokens.admin, doc(record("se1").repeat(20)))).status).toBe(413);
    expect((await post(tokens.admin, doc(), "application/json")).status).toBe(415);
    expect(await backend.records.count()).toBe(0);
  });

  it("exports and summarises for admin and read tokens only", async () => {
    await post(tokens.admin, doc(record("se1")));
    const xml = await get(tokens.read, "/v1/records/star?from=2026-01-01&to=2026-01-02");
    expect(xml.status).toBe(200);
    expect(await xml.text()).toContain("<sr:ResourceCapacityUsed>5</sr:ResourceCapacityUsed>");
    expect((await get(tokens.account, "/v1/records/star?from=2026-01-01&to=2026-01-02")).status).toBe(403);
    expect((await get(tokens.account, "/v1/records/summary?from=2026-01-01&to=2026-01-02")).status).toBe(403);
    const summary = await get(tokens.read, "/v1/records/summary?from=2026-01-01&to=2026-01-02&by=system");
    expect(await summary.json()).toMatchObject({ rows: [{ system: "se1", records: 1, resource_capacity_used: "5" }] });
    const bad = await get(tokens.read, "/v1/records/star?from=2026-01-01&to=2026-01-02&format=csv");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: { code: "VALIDATION", message: 'format must be one of star-xml, star-json, not "csv"' },
    });
  });
});
