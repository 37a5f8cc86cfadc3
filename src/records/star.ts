// The StAR storage accounting record (OGF GFD.201, namespace ...storagerecord): fields, and the rules a record meets.

export const STAR_NS = "http://eu-emi.eu/namespaces/2011/02/storagerecord";

export type GroupAttributeType = "subgroup" | "role" | "authority" | (string & {});

export interface GroupAttribute {
  readonly type: GroupAttributeType;
  readonly value: string;
}

export interface SubjectIdentity {
  readonly localUser?: string;
  readonly localGroup?: string;
  readonly userIdentity?: string;
  readonly group?: string;
  /** In document order; the same type may appear more than once. */
  readonly groupAttributes?: readonly GroupAttribute[];
}

/**
 * Every field a record may carry, each optional: what a parser read before checking it, and what the writer
 * writes. Times are epoch milliseconds (UTC); capacities and counts are exact integers of any size.
 */
export interface StarFields {
  readonly recordId?: string;
  readonly createTime?: number;
  readonly storageSystem?: string;
  readonly site?: string;
  readonly storageShare?: string;
  readonly storageMedia?: string;
  readonly storageClass?: string;
  readonly fileCount?: bigint;
  readonly directoryPath?: string;
  readonly subject?: SubjectIdentity;
  readonly startTime?: number;
  readonly endTime?: number;
  /** Pre-final drafts measured an instant and a duration instead of a start and an end; kept so they survive. */
  readonly measureTime?: number;
  readonly validDuration?: string;
  readonly resourceCapacityUsed?: bigint;
  readonly logicalCapacityUsed?: bigint;
  readonly resourceCapacityAllocated?: bigint;
}

/** A record with every mandatory element: what import takes and export makes. */
export interface StarRecord extends StarFields {
  readonly recordId: string;
  readonly createTime: number;
  readonly storageSystem: string;
  readonly startTime: number;
  readonly endTime: number;
  readonly resourceCapacityUsed: bigint;
}

/** The elements a record must have, by element name, in the order a message lists them. */
export const MANDATORY: readonly (readonly [keyof StarRecord, string])[] = [
  ["storageSystem", "StorageSystem"],
  ["startTime", "StartTime"],
  ["endTime", "EndTime"],
  ["resourceCapacityUsed", "ResourceCapacityUsed"],
];

/** What is wrong with a record's fields (empty when nothing is): each problem names the element. */
export function recordProblems(fields: StarFields): string[] {
  const problems: string[] = [];
  if (fields.recordId === undefined || fields.createTime === undefined) {
    problems.push("RecordIdentity with sr:recordId and sr:createTime is missing");
  }
  for (const [key, element] of MANDATORY) {
    if (fields[key] === undefined) problems.push(`${element} is missing`);
  }
  if (fields.startTime !== undefined && fields.endTime !== undefined && fields.endTime < fields.startTime) {
    problems.push("EndTime is before StartTime");
  }
  return problems;
}

export function isComplete(fields: StarFields): fields is StarRecord {
  return recordProblems(fields).length === 0;
}
