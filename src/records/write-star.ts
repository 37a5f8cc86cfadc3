// StAR out: XML in the sr namespace (prefixed elements and attributes, UTC times with Z) and a JSON form.

import { isoTime } from "../domain/time.js";
import { STAR_NS, type StarFields } from "./star.js";

export type StarFormat = "star-xml" | "star-json";

/** Characters XML 1.0 cannot carry, even escaped. */
const NOT_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const SPECIAL = /[&<>"']/g;
const ENTITY: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/**
 * What escapeXml must look at: a character it escapes (& < > " ') or may refuse. A surrogate pair is looked at too,
 * and then checked in full.
 */
const NOT_PLAIN = /[^\t\n\r\x20\x21\x23-\x25\x28-\x3B\x3D\x3F-\uD7FF\uE000-\uFFFD]/;

/** Text escaped for an element or a quoted attribute; text XML cannot hold is refused, never written broken. */
export function escapeXml(text: string): string {
  if (!NOT_PLAIN.test(text)) return text;
  const bad = NOT_XML.exec(text);
  if (bad) {
    const code = (bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
    throw new Error(`U+${code} cannot be written in XML`);
  }
  return text.replace(SPECIAL, (c) => ENTITY[c] as string);
}

/** A StAR time: UTC with Z, milliseconds only when there are some. */
export function starTime(ms: number): string {
  const iso = isoTime(ms);
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}

/** One sr:StorageUsageRecord, in the element order of the StAR schema, indented for a document of records. */
export function starRecordXml(r: StarFields, indent = "  "): string {
  const i2 = `${indent}  `;
  const i3 = `${i2}  `;
  let out = `${indent}<sr:StorageUsageRecord>\n`;
  /** An element on a line of its own; times and integers need no escaping. */
  const line = (name: string, value: string | number | bigint | undefined, pad = i2) => {
    if (value === undefined) return;
    const text =
      typeof value === "number" ? starTime(value) : typeof value === "bigint" ? String(value) : escapeXml(value);
    out += `${pad}<sr:${name}>${text}</sr:${name}>\n`;
  };
  if (r.createTime !== undefined || r.recordId !== undefined) {
    out += `${i2}<sr:RecordIdentity`;
    if (r.createTime !== undefined) out += ` sr:createTime="${starTime(r.createTime)}"`;
    if (r.recordId !== undefined) out += ` sr:recordId="${escapeXml(r.recordId)}"`;
    out += "/>\n";
  }
  line("StorageSystem", r.storageSystem);
  line("Site", r.site);
  line("StorageShare", r.storageShare);
  line("StorageMedia", r.storageMedia);
  line("StorageClass", r.storageClass);
  line("FileCount", r.fileCount);
  line("DirectoryPath", r.directoryPath);
  const s = r.subject;
  if (s) {
    out += `${i2}<sr:SubjectIdentity>\n`;
    line("LocalUser", s.localUser, i3);
    line("LocalGroup", s.localGroup, i3);
    line("UserIdentity", s.userIdentity, i3);
    line("Group", s.group, i3);
    for (const a of s.groupAttributes ?? []) {
      out += `${i3}<sr:GroupAttribute sr:attributeType="${escapeXml(a.type)}">${escapeXml(a.value)}</sr:GroupAttribute>\n`;
    }
    out += `${i2}</sr:SubjectIdentity>\n`;
  }
  line("StartTime", r.startTime);
  line("EndTime", r.endTime);
  line("MeasureTime", r.measureTime);
  line("ValidDuration", r.validDuration);
  line("ResourceCapacityUsed", r.resourceCapacityUsed);
  line("LogicalCapacityUsed", r.logicalCapacityUsed);
  line("ResourceCapacityAllocated", r.resourceCapacityAllocated);
  return `${out}${indent}</sr:StorageUsageRecord>\n`;
}

export const STAR_XML_HEAD = `<?xml version="1.0" encoding="UTF-8"?>\n<sr:StorageUsageRecords xmlns:sr="${STAR_NS}">\n`;
export const STAR_XML_TAIL = "</sr:StorageUsageRecords>\n";

/** A whole sr:StorageUsageRecords document. */
export function starDocumentXml(records: Iterable<StarFields>): string {
  const parts = [STAR_XML_HEAD];
  for (const r of records) parts.push(starRecordXml(r));
  parts.push(STAR_XML_TAIL);
  return parts.join("");
}

/**
 * The JSON form: the XML's element and attribute names, times as in XML, integers as decimal strings (exact at
 * any size). `{"StorageUsageRecords": [ … ]}`.
 */
export function starRecordJson(r: StarFields): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const put = (name: string, value: string | number | bigint | undefined) => {
    if (value !== undefined) o[name] = typeof value === "number" ? starTime(value) : String(value);
  };
  if (r.recordId !== undefined || r.createTime !== undefined) {
    const identity: Record<string, string> = {};
    if (r.recordId !== undefined) identity.recordId = r.recordId;
    if (r.createTime !== undefined) identity.createTime = starTime(r.createTime);
    o.RecordIdentity = identity;
  }
  put("StorageSystem", r.storageSystem);
  put("Site", r.site);
  put("StorageShare", r.storageShare);
  put("StorageMedia", r.storageMedia);
  put("StorageClass", r.storageClass);
  put("FileCount", r.fileCount);
  put("DirectoryPath", r.directoryPath);
  if (r.subject) {
    const s: Record<string, unknown> = {};
    if (r.subject.localUser !== undefined) s.LocalUser = r.subject.localUser;
    if (r.subject.localGroup !== undefined) s.LocalGroup = r.subject.localGroup;
    if (r.subject.userIdentity !== undefined) s.UserIdentity = r.subject.userIdentity;
    if (r.subject.group !== undefined) s.Group = r.subject.group;
    if (r.subject.groupAttributes?.length) {
      s.GroupAttribute = r.subject.groupAttributes.map((a) => ({ attributeType: a.type, value: a.value }));
    }
    o.SubjectIdentity = s;
  }
  put("StartTime", r.startTime);
  put("EndTime", r.endTime);
  put("MeasureTime", r.measureTime);
  put("ValidDuration", r.validDuration);
  put("ResourceCapacityUsed", r.resourceCapacityUsed);
  put("LogicalCapacityUsed", r.logicalCapacityUsed);
  put("ResourceCapacityAllocated", r.resourceCapacityAllocated);
  return o;
}

export function starDocumentJson(records: Iterable<StarFields>): string {
  const list: string[] = [];
  for (const r of records) list.push(JSON.stringify(starRecordJson(r)));
  return `{"StorageUsageRecords":[${list.join(",\n")}]}\n`;
}

/** Records as they go in a document of the format after others: XML elements, or JSON objects each after a comma. */
export function renderRecords(records: readonly StarFields[], format: StarFormat): string {
  let text = "";
  if (format === "star-xml") for (const r of records) text += starRecordXml(r);
  else for (const r of records) text += `,\n${JSON.stringify(starRecordJson(r))}`;
  return text;
}
