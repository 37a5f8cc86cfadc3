// A safe StAR parser: namespace-aware, no DOCTYPE or entities, bounded size; each record checked on its own.

import { SaxesParser, type SaxesTagNS } from "saxes";
import { AppError, validation } from "../domain/errors.js";
import { nameTextProblem } from "../domain/text.js";
import { parseEventTime } from "../domain/time.js";
import { truncate } from "../domain/value.js";
import { type GroupAttribute, isComplete, recordProblems, STAR_NS, type StarFields, type StarRecord } from "./star.js";

/** The largest document read by default: a day of records for a large site fits many times over. */
export const MAX_STAR_DOCUMENT_BYTES = 64 * 1024 * 1024;

export interface ParsedRecord {
  /** Position among the document's records, from 0. */
  readonly index: number;
  /** Line of the record's start tag. */
  readonly line: number;
  /** What the record holds, as read; fields that could not be read are absent and named in `problems`. */
  readonly fields: StarFields;
  /** Each names the element that is wrong; empty when the record is complete and valid. */
  readonly problems: readonly string[];
  /** The record, when there are no problems. */
  readonly record?: StarRecord;
}

export interface ParseOptions {
  readonly maxBytes?: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const TEXT = {
  StorageSystem: "storageSystem",
  Site: "site",
  StorageShare: "storageShare",
  StorageMedia: "storageMedia",
  StorageClass: "storageClass",
  DirectoryPath: "directoryPath",
  ValidDuration: "validDuration",
} as const;
const SUBJECT_TEXT = {
  LocalUser: "localUser",
  LocalGroup: "localGroup",
  UserIdentity: "userIdentity",
  Group: "group",
} as const;
const TIMES = { StartTime: "startTime", EndTime: "endTime", MeasureTime: "measureTime" } as const;
const INTEGERS = {
  FileCount: "fileCount",
  ResourceCapacityUsed: "resourceCapacityUsed",
  LogicalCapacityUsed: "logicalCapacityUsed",
  ResourceCapacityAllocated: "resourceCapacityAllocated",
} as const;
/** Elements the parser knows: one of these outside the StAR namespace is a mistake, not an extension. */
const KNOWN = new Set([
  ...Object.keys(TEXT),
  ...Object.keys(SUBJECT_TEXT),
  ...Object.keys(TIMES),
  ...Object.keys(INTEGERS),
  "RecordIdentity",
  "SubjectIdentity",
  "GroupAttribute",
  "StorageUsageRecord",
  "StorageUsageRecords",
]);
const LEAVES = new Set([
  ...Object.keys(TEXT),
  ...Object.keys(SUBJECT_TEXT),
  ...Object.keys(TIMES),
  ...Object.keys(INTEGERS),
  "GroupAttribute",
]);
const INTEGER = /^\+?[0-9]+$/;

interface Open {
  fields: Mutable<StarFields>;
  subject: Mutable<NonNullable<StarFields["subject"]>>;
  attributes: GroupAttribute[];
  problems: string[];
  seen: Set<string>;
  line: number;
  depth: number;
}

/**
 * Parses a StAR document (`sr:StorageUsageRecords` or one `sr:StorageUsageRecord`) from its bytes. A document that
 * is not well-formed, holds a DOCTYPE, is not UTF-8, is too large or has another root throws VALIDATION (TOO_LARGE
 * for the size); a record with a problem comes back with it, the others as records. Elements are found anywhere
 * inside their record, as APEL finds them (DPM puts Site inside SubjectIdentity).
 */
export function parseStarDocument(bytes: Uint8Array, options: ParseOptions = {}): ParsedRecord[] {
  const max = options.maxBytes ?? MAX_STAR_DOCUMENT_BYTES;
  if (bytes.byteLength > max) {
    throw new AppError("TOO_LARGE", `the StAR document is larger than the limit of ${max} bytes`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw validation("the StAR document is not UTF-8");
  }
  const parser = new SaxesParser({ xmlns: true, position: true });
  const out: ParsedRecord[] = [];
  let depth = 0;
  let rootSeen = false;
  let open: Open | null = null;
  let leaf: { name: string; text: string; attributeType?: string } | null = null;

  parser.on("error", (error) => {
    throw validation(`the StAR document is not well-formed XML: ${error.message}`);
  });
  parser.on("doctype", () => {
    throw validation(`the StAR document has a DOCTYPE (line ${parser.line}); DOCTYPE declarations are refused`);
  });
  parser.on("opentag", (tag: SaxesTagNS) => {
    depth++;
    const local = tag.local;
    const ns = tag.uri;
    if (depth === 1) {
      rootSeen = true;
      if (local !== "StorageUsageRecords" && local !== "StorageUsageRecord") {
        throw validation(`the root element is ${tag.name}, not sr:StorageUsageRecords or sr:StorageUsageRecord`);
      }
      if (local === "StorageUsageRecords") {
        if (ns !== STAR_NS) throw validation(`the root element ${tag.name} is ${namespaceOf(ns)}, not ${STAR_NS}`);
        return;
      }
    }
    if (!open) {
      if (depth <= 2 && local === "StorageUsageRecord") {
        open = {
          fields: {},
          subject: {},
          attributes: [],
          problems: [],
          seen: new Set(),
          line: parser.line,
          depth,
        };
        if (ns !== STAR_NS) open.problems.push(`StorageUsageRecord is ${namespaceOf(ns)}, not the StAR namespace`);
      }
      return;
    }
    if (leaf) {
      open.problems.push(`${leaf.name} holds an element (${tag.name}), not text`);
      return;
    }
    if (!KNOWN.has(local)) return;
    if (ns !== STAR_NS) {
      open.problems.push(`${tag.name} is ${namespaceOf(ns)}, not the StAR namespace`);
      return;
    }
    if (local === "RecordIdentity") {
      readIdentity(tag, open);
      return;
    }
    if (LEAVES.has(local)) {
      if (local !== "GroupAttribute" && open.seen.has(local)) {
        open.problems.push(`${local} appears more than once`);
        return;
      }
      open.seen.add(local);
      leaf = { name: local, text: "" };
      if (local === "GroupAttribute") {
        const type = attribute(tag, "attributeType", open);
        if (type !== undefined) leaf.attributeType = type;
      }
    }
  });
  parser.on("text", (t) => {
    if (leaf) leaf.text += t;
  });
  parser.on("cdata", (t) => {
    if (leaf) leaf.text += t;
  });
  parser.on("closetag", (tag: SaxesTagNS) => {
    if (open && leaf && tag.local === leaf.name && tag.uri === STAR_NS) {
      readLeaf(leaf, open);
      leaf = null;
    } else if (open && depth === open.depth) {
      out.push(finish(open, out.length));
      open = null;
    }
    depth--;
  });
  parser.write(text).close();
  if (!rootSeen) throw validation("the StAR document has no root element");
  return out;
}

function namespaceOf(ns: string): string {
  return ns === "" ? "in no namespace" : `in the namespace "${truncate(ns, 80)}"`;
}

/** A StAR attribute: prefixed (sr:recordId). An unprefixed one is in no namespace, and APEL refuses it. */
function attribute(tag: SaxesTagNS, local: string, open: Open): string | undefined {
  let found: string | undefined;
  for (const a of Object.values(tag.attributes)) {
    if (a.local !== local) continue;
    if (a.uri === STAR_NS) found = a.value;
    else open.problems.push(`${tag.local}'s ${a.name} attribute must be in the StAR namespace (sr:${local})`);
  }
  return found;
}

function readIdentity(tag: SaxesTagNS, open: Open): void {
  if (open.seen.has("RecordIdentity")) {
    open.problems.push("RecordIdentity appears more than once");
    return;
  }
  open.seen.add("RecordIdentity");
  const id = attribute(tag, "recordId", open);
  const created = attribute(tag, "createTime", open);
  if (id !== undefined) {
    const problem = id.trim() === "" ? "is empty" : nameTextProblem(id);
    if (problem) open.problems.push(`RecordIdentity's sr:recordId ${problem}`);
    else open.fields.recordId = id;
  }
  if (created !== undefined) {
    const time = parseEventTime(created.trim());
    if (typeof time === "string") open.problems.push(`RecordIdentity's sr:createTime ${time}`);
    else open.fields.createTime = time;
  }
}

function readLeaf(leaf: { name: string; text: string; attributeType?: string }, open: Open): void {
  const name = leaf.name;
  const value = leaf.text.trim();
  if (name in TIMES) {
    const time = parseEventTime(value);
    if (typeof time === "string") open.problems.push(`${name} ${time}`);
    else open.fields[TIMES[name as keyof typeof TIMES]] = time;
    return;
  }
  if (name in INTEGERS) {
    if (!INTEGER.test(value)) open.problems.push(`${name} "${truncate(value)}" is not a non-negative integer`);
    else open.fields[INTEGERS[name as keyof typeof INTEGERS]] = BigInt(value.replace("+", ""));
    return;
  }
  const problem = value === "" ? "is empty" : nameTextProblem(value);
  if (problem) {
    open.problems.push(`${name} ${problem}`);
    return;
  }
  if (name === "GroupAttribute") {
    if (leaf.attributeType === undefined) open.problems.push("GroupAttribute has no sr:attributeType");
    else open.attributes.push({ type: leaf.attributeType, value });
  } else if (name in SUBJECT_TEXT) {
    open.subject[SUBJECT_TEXT[name as keyof typeof SUBJECT_TEXT]] = value;
  } else {
    open.fields[TEXT[name as keyof typeof TEXT]] = value;
  }
}

function finish(open: Open, index: number): ParsedRecord {
  if (open.attributes.length > 0) open.subject.groupAttributes = open.attributes;
  if (Object.keys(open.subject).length > 0) open.fields.subject = open.subject;
  const fields: StarFields = open.fields;
  const problems = [...open.problems, ...recordProblems(fields)];
  const base = { index, line: open.line, fields };
  if (problems.length === 0 && isComplete(fields)) return { ...base, problems, record: fields };
  return { ...base, problems };
}

/** How a message names a record: its recordId when it has one, else its position and line. */
export function recordName(r: Pick<ParsedRecord, "index" | "line" | "fields">): string {
  return r.fields.recordId !== undefined
    ? `record "${truncate(r.fields.recordId, 120)}" (line ${r.line})`
    : `record ${r.index + 1} (line ${r.line})`;
}
