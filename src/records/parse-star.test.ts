import fs from "node:fs";
import path from "node:path";
import { SaxesParser } from "saxes";
import { describe, expect, it } from "vitest";
import { AppError } from "../domain/errors.js";
import { parseStarDocument, recordName } from "./parse-star.js";
import { STAR_NS } from "./star.js";
import { starDocumentJson, starDocumentXml, starRecordXml } from "./write-star.js";

const SAMPLES = path.join(import.meta.dirname, "star-samples");
const samples = fs.readdirSync(SAMPLES).filter((f) => f.endsWith(".xml"));
const read = (name: string) => parseStarDocument(fs.readFileSync(path.join(SAMPLES, name)));
const doc = (body: string) =>
  Buffer.from(`<sr:StorageUsageRecords xmlns:sr="${STAR_NS}">${body}</sr:StorageUsageRecords>`);
const ident = `<sr:RecordIdentity sr:recordId="r1" sr:createTime="2026-01-02T00:00:00Z"/>`;
const body = `<sr:StorageSystem>s1</sr:StorageSystem><sr:StartTime>2026-01-01T00:00:00Z</sr:StartTime>
  <sr:EndTime>2026-01-02T00:00:00Z</sr:EndTime><sr:ResourceCapacityUsed>5</sr:ResourceCapacityUsed>`;
const record = (inner: string) => `<sr:StorageUsageRecord>${inner}</sr:StorageUsageRecord>`;

function expectError(bytes: Buffer, code: string, text: RegExp) {
  try {
    parseStarDocument(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(code);
    expect((error as AppError).message).toMatch(text);
    return;
  }
  throw new Error("no error");
}

describe("the real samples", () => {
  it("are all there", () => expect(samples.length).toBeGreaterThanOrEqual(5));

  it.each(samples)("%s survives parse, XML export and parse again, and JSON export, field for field", (name) => {
    const parsed = read(name);
    expect(parsed.length).toBeGreaterThan(0);
    const xml = starDocumentXml(parsed.map((p) => p.fields));
    // Well-formed: a strict namespace-aware parser reads it without error.
    new SaxesParser({ xmlns: true }).write(xml).close();
    const again = parseStarDocument(Buffer.from(xml));
    expect(again.map((p) => p.fields)).toEqual(parsed.map((p) => p.fields));
    expect(again.map((p) => p.problems)).toEqual(parsed.map((p) => p.problems));
    const json = JSON.parse(starDocumentJson(parsed.map((p) => p.fields)));
    expect(json.StorageUsageRecords).toHaveLength(parsed.length);
    // Every element and attribute of the source appears in the output with the same text.
    const source = fs.readFileSync(path.join(SAMPLES, name), "utf8");
    for (const m of source.matchAll(/<sr:(\w+)(?: sr:attributeType="(\w+)")?>([^<]*)<\/sr:\1>/g)) {
      const [, element, type, text] = m as unknown as [string, string, string | undefined, string];
      const attr = type ? ` sr:attributeType="${type}"` : "";
      expect(xml).toContain(`<sr:${element}${attr}>${text.trim()}</sr:${element}>`);
    }
    for (const m of source.matchAll(/sr:(recordId|createTime)="([^"]*)"/g)) expect(xml).toContain(m[0]);
  });

  it("reads the DPM layout: Site inside SubjectIdentity, group attributes of every type", () => {
    const [a, b, c, d] = read("apel-test_star_parser-group-attribute-collection.xml");
    expect(a?.record).toMatchObject({ recordId: "c698", site: "EXAMPLE", subject: { group: "ops" } });
    expect(b?.record?.subject?.groupAttributes).toEqual([
      { type: "authority", value: "/O=Grid/OU=eg.org/CN=host/auth.eg.org" },
    ]);
    expect(b?.record?.logicalCapacityUsed).toBe(26770352879563n);
    expect(c?.record?.subject).toEqual({ group: "cms", groupAttributes: [{ type: "role", value: "cmsphedex" }] });
    expect(d?.record?.subject?.groupAttributes).toEqual([
      { type: "role", value: "poweruser1" },
      { type: "subgroup", value: "uk" },
    ]);
    expect(d?.record?.createTime).toBe(Date.parse("2016-09-08T12:16:10Z"));
  });

  it("reads a single-record root and the dCache collection", () => {
    const [single] = read("apel-test_star_parser-star3-spec-example-single-record.xml");
    expect(single?.record).toEqual({
      recordId: "host.example.org/sr/87912469269276",
      createTime: Date.parse("2010-11-09T09:06:52Z"),
      storageSystem: "host.example.org",
      site: "ACME-University",
      storageShare: "pool-003",
      subject: { group: "binarydataproject.example.org", groupAttributes: [{ type: "subgroup", value: "ukusers" }] },
      storageMedia: "disk",
      fileCount: 42n,
      startTime: Date.parse("2010-10-11T09:31:40Z"),
      endTime: Date.parse("2010-10-12T09:29:42Z"),
      resourceCapacityUsed: 14728n,
      logicalCapacityUsed: 13617n,
    });
    const [desy] = read("apel-test_star_parser-star1-dcache-desy-collection.xml");
    expect(desy?.record).toMatchObject({ site: "desycerttb", storageMedia: "disk", resourceCapacityUsed: 693064064n });
  });

  it("reports the SGAS draft (MeasureTime, no StartTime) as APEL does, keeping what it read", () => {
    const [draft] = read("sgas-srsampledata-SR_0-collection-measuretime-draft.xml");
    expect(draft?.record).toBeUndefined();
    expect(draft?.problems).toEqual(["StartTime is missing", "EndTime is missing"]);
    expect(draft?.fields).toMatchObject({
      measureTime: Date.parse("2010-10-11T09:31:40Z"),
      validDuration: "PT3600S",
      directoryPath: "/home/projectA",
      storageClass: "replicated",
      subject: { localUser: "johndoe", localGroup: "projectA", userIdentity: "/O=Grid/OU=example.org/CN=John Doe" },
    });
    expect(recordName(draft as never)).toBe('record "host.example.org/sr/87912469269276" (line 2)');
  });
});

describe("record checks", () => {
  it("keeps capacities beyond 64 bits exact", () => {
    const big = "123456789012345678901234567890123456789012345";
    const [r] = parseStarDocument(doc(record(ident + body.replace(">5<", `>${big}<`))));
    expect(r?.record?.resourceCapacityUsed).toBe(BigInt(big));
    expect(starRecordXml(r?.record ?? {})).toContain(`<sr:ResourceCapacityUsed>${big}</sr:ResourceCapacityUsed>`);
  });

  it("names the record and each missing element, and keeps the valid records", () => {
    const parsed = parseStarDocument(
      doc(record(ident + body) + record(`<sr:RecordIdentity sr:recordId="r2" sr:createTime="2026-01-02T00:00:00Z"/>`)),
    );
    expect(parsed[0]?.record).toBeDefined();
    expect(parsed[1]?.problems).toEqual([
      "StorageSystem is missing",
      "StartTime is missing",
      "EndTime is missing",
      "ResourceCapacityUsed is missing",
    ]);
    expect(recordName(parsed[1] as never)).toMatch(/^record "r2"/);
  });

  it("refuses unprefixed recordId and createTime, as APEL does", () => {
    const [r] = parseStarDocument(
      doc(record(`<sr:RecordIdentity recordId="r1" createTime="2026-01-02T00:00:00Z"/>${body}`)),
    );
    expect(r?.problems).toEqual([
      "RecordIdentity's recordId attribute must be in the StAR namespace (sr:recordId)",
      "RecordIdentity's createTime attribute must be in the StAR namespace (sr:createTime)",
      "RecordIdentity with sr:recordId and sr:createTime is missing",
    ]);
    expect(recordName(r as never)).toBe("record 1 (line 1)");
  });

  it("refuses elements and records in another namespace", () => {
    const parsed = parseStarDocument(
      doc(
        record(
          `${ident}${body.replace("<sr:StorageSystem>s1</sr:StorageSystem>", "<StorageSystem>s1</StorageSystem>")}`,
        ) +
          `<x:StorageUsageRecord xmlns:x="http://eu-emi.eu/namespaces/2011/02/storagerecords">${ident}${body}</x:StorageUsageRecord>`,
      ),
    );
    expect(parsed[0]?.problems).toEqual([
      "StorageSystem is in no namespace, not the StAR namespace",
      "StorageSystem is missing",
    ]);
    expect(parsed[1]?.problems[0]).toMatch(/^StorageUsageRecord is in the namespace ".*storagerecords", not the StAR/);
    expectError(
      Buffer.from(`<StorageUsageRecords>${record(ident + body)}</StorageUsageRecords>`),
      "VALIDATION",
      /root element StorageUsageRecords is in no namespace/,
    );
  });

  it("names bad values", () => {
    const [r] = parseStarDocument(
      doc(
        record(
          ident +
            body
              .replace(">5<", ">-5<")
              .replace("2026-01-01T00:00:00Z", "2026-01-01 00:00:00")
              .replace("<sr:EndTime>", "<sr:FileCount>1</sr:FileCount><sr:FileCount>2</sr:FileCount><sr:EndTime>"),
        ),
      ),
    );
    expect(r?.problems).toEqual([
      'StartTime "2026-01-01 00:00:00" is not an RFC 3339 time (like 2026-11-23T12:00:00Z)',
      "FileCount appears more than once",
      'ResourceCapacityUsed "-5" is not a non-negative integer',
      "StartTime is missing",
      "ResourceCapacityUsed is missing",
    ]);
    const [late] = parseStarDocument(
      doc(record(ident + body.replace("2026-01-02T00:00:00Z<", "2025-01-02T00:00:00Z<"))),
    );
    expect(late?.problems).toEqual(["EndTime is before StartTime"]);
  });

  it("reads times with offsets and fractions as UTC", () => {
    const [r] = parseStarDocument(
      doc(record(ident + body.replace("2026-01-01T00:00:00Z", "2026-01-01T02:00:00.5+02:00"))),
    );
    expect(r?.record?.startTime).toBe(Date.parse("2026-01-01T00:00:00.500Z"));
    expect(starRecordXml(r?.record ?? {})).toContain("<sr:StartTime>2026-01-01T00:00:00.500Z</sr:StartTime>");
  });
});

describe("hostile documents", () => {
  it("refuses a DOCTYPE, so no entity is ever defined or expanded", () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>`;
    expectError(
      Buffer.from(`${bomb}<sr:StorageUsageRecords xmlns:sr="${STAR_NS}">&lol2;</sr:StorageUsageRecords>`),
      "VALIDATION",
      /DOCTYPE/,
    );
    const xxe = `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>`;
    expectError(
      Buffer.from(`${xxe}<sr:StorageUsageRecords xmlns:sr="${STAR_NS}">&x;</sr:StorageUsageRecords>`),
      "VALIDATION",
      /DOCTYPE/,
    );
  });

  it("refuses undefined entities, bad XML, bytes that are not UTF-8, and documents over the limit", () => {
    expectError(doc(record(`${ident}<sr:Site>&x;</sr:Site>${body}`)), "VALIDATION", /not well-formed/);
    expectError(Buffer.from("<sr:StorageUsageRecords"), "VALIDATION", /not well-formed/);
    expectError(Buffer.from([0x3c, 0x61, 0xff, 0x3e]), "VALIDATION", /not UTF-8/);
    expect(() => parseStarDocument(doc(record(ident + body)), { maxBytes: 100 })).toThrow(
      /larger than the limit of 100/,
    );
    expectError(Buffer.from("<other/>"), "VALIDATION", /root element is other/);
  });

  it("writes text that needs escaping as well-formed XML, and refuses what XML cannot hold", () => {
    const fields = { recordId: `a"<&>'b`, site: "x & <y>", createTime: 0 };
    const xml = starDocumentXml([fields]);
    const [r] = parseStarDocument(Buffer.from(xml));
    expect(r?.fields).toMatchObject(fields);
    expect(() => starDocumentXml([{ site: "a\u0001b" }])).toThrow(/U\+0001 cannot be written in XML/);
  });
});
