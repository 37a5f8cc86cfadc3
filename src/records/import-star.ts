// Import: each StAR record becomes level readings of its storage system and identity, through the one ingest path.
//
// Every record gets series of its own (instance `star:<recordId>`), one per metric it carries: its value from
// StartTime, 0 from EndTime. Records of one system and identity that follow each other, leave gaps or overlap
// therefore add up exactly. A later version of a record (same recordId, later createTime) writes readings at every
// time any version wrote one, with ids that sort after the earlier versions' at the same time, so that its step
// function replaces theirs exactly, given that a level's readings are ordered by (time, id).

import { createHash } from "node:crypto";
import { type RawEvent, validateEvent } from "../domain/event.js";
import type { MetricKind } from "../domain/metric.js";
import { dimsKey } from "../domain/rollup.js";
import { type EventGate, ingestEvents } from "../ingest/ingest-events.js";
import type { BatchItem } from "../ingest/parse-body.js";
import type { EventLog } from "../store/port.js";
import { type ParsedRecord, recordName } from "./parse-star.js";
import type { StarRecord, SubjectIdentity } from "./star.js";
import type { StarConfig } from "./star-config.js";
import { subjectOf } from "./star-config.js";
import type { ImportedRecord, ImportedSeries, StarRecordStore } from "./star-record-store.js";

/** Each metric a record may carry, with its element. */
const METRICS = [
  ["storage.bytes", "resourceCapacityUsed", "ResourceCapacityUsed"],
  ["storage.files", "fileCount", "FileCount"],
  ["storage.reserved", "resourceCapacityAllocated", "ResourceCapacityAllocated"],
  ["storage.logical_bytes", "logicalCapacityUsed", "LogicalCapacityUsed"],
] as const;

/** Events written in one commit; a record's events never span two. */
const BATCH_EVENTS = 20_000;
/** Problems listed in an answer; the rest are counted. */
const LISTED_PROBLEMS = 1_000;

export type ImportStatus = "imported" | "replaced" | "unchanged" | "older" | "rejected";

export interface ImportProblem {
  readonly record: string;
  readonly status: "older" | "rejected";
  readonly reason: string;
}

export interface ImportResult {
  readonly records: number;
  readonly imported: number;
  readonly replaced: number;
  readonly unchanged: number;
  /** Versions older than one already imported: reported and ignored. */
  readonly older: number;
  readonly rejected: number;
  readonly problems: ImportProblem[];
  readonly problems_omitted?: number;
}

export interface ImportDeps {
  readonly events: EventLog;
  readonly records: StarRecordStore;
}

export interface ImportOptions {
  readonly config: StarConfig;
  /** Why the sender may not write events of a storage system (an ingest token for other servers). */
  readonly gate?: EventGate | undefined;
}

const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

/** The account a record's identity stands for: a configured account with that identity, else its most specific name. */
export function accountOf(_config: StarConfig, record: StarRecord, index: ReadonlyMap<string, string>): string {
  const s = record.subject ?? {};
  const mapped = index.get(identityKey(s));
  if (mapped !== undefined) return mapped;
  return s.localUser ?? s.group ?? s.userIdentity ?? s.localGroup ?? record.site ?? record.storageSystem;
}

function identityKey(s: SubjectIdentity): string {
  const attributes = [...(s.groupAttributes ?? [])].map((a) => `${a.type}=${a.value}`).sort();
  return JSON.stringify([
    s.localUser ?? null,
    s.localGroup ?? null,
    s.userIdentity ?? null,
    s.group ?? null,
    attributes,
  ]);
}

/** Configured accounts by the identity export gives them, so that a record of that identity is read as the account. */
export function identityIndex(config: StarConfig): Map<string, string> {
  const index = new Map<string, string>();
  for (const account of Object.keys(config.accounts)) {
    const subject = subjectOf(config, account, {});
    if (subject && !index.has(identityKey(subject))) index.set(identityKey(subject), account);
  }
  return index;
}

/** The kept dims a record gives its series. */
export function dimsOfRecord(record: StarRecord): Record<string, string> {
  const dims: Record<string, string> = {};
  if (record.site !== undefined) dims.site = record.site;
  if (record.storageShare !== undefined) dims.share = record.storageShare;
  if (record.storageMedia !== undefined) dims.media = record.storageMedia;
  if (record.storageClass !== undefined) dims.storage_class = record.storageClass;
  if (record.subject?.group !== undefined) dims.group = record.subject.group;
  const role = record.subject?.groupAttributes?.find((a) => a.type === "role");
  if (role) dims.role = role.value;
  return dims;
}

/** The instance of a record's series: its id, or a digest of it when the id is too long to be an instance. */
export function instanceOf(recordId: string): string {
  const plain = `star:${recordId}`;
  return Buffer.byteLength(plain) <= 256 ? plain : `star:sha256:${createHash("sha256").update(recordId).digest("hex")}`;
}

const seriesJson = (s: ImportedSeries) => JSON.stringify([s.server, s.account, s.metric, s.instance, dimsKey(s.dims)]);

interface Planned {
  readonly items: BatchItem[];
  readonly stored: ImportedRecord;
  readonly status: "imported" | "replaced";
}

/** The readings of one version of a record, or why it cannot be imported. */
function plan(
  record: StarRecord,
  previous: ImportedRecord | undefined,
  account: string,
  kinds: Readonly<Record<string, MetricKind>>,
  gate: EventGate | undefined,
): Planned | string {
  if (record.endTime === record.startTime) return "EndTime equals StartTime: the record covers no time";
  const dims = dimsOfRecord(record);
  const instance = instanceOf(record.recordId);
  const values = new Map<string, bigint>();
  const fresh: ImportedSeries[] = [];
  for (const [metric, field, element] of METRICS) {
    const value = record[field];
    if (value === undefined) continue;
    const stored = kinds[metric];
    if (stored !== undefined && stored !== "level")
      return `${element}: ${metric} is stored as a ${stored}, not a level`;
    const series = { server: record.storageSystem, account, metric, instance, dims };
    values.set(seriesJson(series), value);
    fresh.push(series);
  }
  const all = new Map<string, ImportedSeries>();
  for (const s of [...(previous?.series ?? []), ...fresh]) all.set(seriesJson(s), s);
  const boundaries = [...new Set([...(previous?.boundaries ?? []), record.startTime, record.endTime])].sort(
    (a, b) => a - b,
  );
  const generation = String(record.createTime).padStart(15, "0");
  const prefix = `star:${hash(record.recordId)}:${generation}`;
  const items: BatchItem[] = [];
  for (const [key, s] of all) {
    const value = values.get(key);
    const element = METRICS.find(([m]) => m === s.metric)?.[2] ?? "value";
    const names = { server: "StorageSystem", account: "the account (from SubjectIdentity)", value: element };
    for (const t of boundaries) {
      const inside = value !== undefined && t >= record.startTime && t < record.endTime;
      const raw: RawEvent = {
        id: `${prefix}:${t}:${hash(key)}`,
        server: s.server,
        time: t,
        account: s.account,
        metric: s.metric,
        kind: "level",
        value: (inside ? value : 0n).toString(),
        instance: s.instance,
        dims: s.dims,
      };
      const v = validateEvent(raw, names);
      if (!v.ok) return v.reason;
      const refused = gate?.(v.event);
      if (refused) return refused;
      items.push({ raw });
    }
  }
  const stored: ImportedRecord = {
    recordId: record.recordId,
    createTime: record.createTime,
    system: record.storageSystem,
    startTime: record.startTime,
    endTime: record.endTime,
    boundaries,
    series: [...all.values()],
  };
  return { items, stored, status: previous ? "replaced" : "imported" };
}

/**
 * Imports a parsed document: each valid record wholly or not at all, the others reported naming the record and the
 * element. Events commit before the record is remembered, so an import cut short and run again gives the same events
 * (duplicates) and then remembers them.
 */
export async function importStarRecords(
  deps: ImportDeps,
  parsed: readonly ParsedRecord[],
  options: ImportOptions,
): Promise<ImportResult> {
  const counts = { imported: 0, replaced: 0, unchanged: 0, older: 0, rejected: 0 };
  const problems: ImportProblem[] = [];
  const report = (p: ParsedRecord, status: ImportProblem["status"], reason: string) => {
    counts[status]++;
    problems.push({ record: recordName(p), status, reason });
  };
  const valid = parsed.filter((p) => p.record !== undefined);
  const known = await deps.records.get([...new Set(valid.map((p) => (p.record as StarRecord).recordId))]);
  const kinds = await deps.events.metricKinds();
  const index = identityIndex(options.config);
  let items: BatchItem[] = [];
  let batch: { p: ParsedRecord; planned: Planned; count: number }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const result = await ingestEvents(deps.events, items);
    const failed = new Map<number, string>();
    for (const r of result.rejected) failed.set(r.index, r.reason);
    let at = 0;
    const stored: ImportedRecord[] = [];
    for (const { p, planned, count } of batch) {
      const reason = [...failed.entries()].find(([i]) => i >= at && i < at + count)?.[1];
      at += count;
      if (reason !== undefined) report(p, "rejected", reason);
      else {
        counts[planned.status]++;
        stored.push(planned.stored);
      }
    }
    await deps.records.put(stored);
    items = [];
    batch = [];
  };
  for (const p of parsed) {
    const record = p.record;
    if (!record) {
      report(p, "rejected", p.problems.join("; "));
      continue;
    }
    const previous = known.get(record.recordId);
    if (previous && previous.createTime > record.createTime) {
      report(p, "older", `a version created at ${new Date(previous.createTime).toISOString()} is already imported`);
      continue;
    }
    if (previous && previous.createTime === record.createTime) {
      counts.unchanged++;
      continue;
    }
    const planned = plan(record, previous, accountOf(options.config, record, index), kinds, options.gate);
    if (typeof planned === "string") {
      report(p, "rejected", planned);
      continue;
    }
    if (items.length + planned.items.length > BATCH_EVENTS) await flush();
    items.push(...planned.items);
    batch.push({ p, planned, count: planned.items.length });
    known.set(record.recordId, planned.stored);
  }
  await flush();
  const listed = problems.slice(0, LISTED_PROBLEMS);
  return {
    records: parsed.length,
    ...counts,
    problems: listed,
    ...(problems.length > listed.length ? { problems_omitted: problems.length - listed.length } : {}),
  };
}
