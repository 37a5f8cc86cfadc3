// The charging store's port: policy versions, agreements held over time, and the credit ledger. Its tables belong
// to charging; usage is never read here (that is the UsageReader's).

import { AppError } from "../domain/errors.js";
import { Decimal } from "./decimal.js";
import type { AgreementSpan } from "./price.js";

export interface PolicyVersion {
  /** 1, 2, 3 … in the order they were loaded. */
  readonly version: number;
  /** Epoch ms from which this version applies, until the next version's `from`. */
  readonly from: number;
  /** The YAML document as loaded: a version is re-read, never rewritten. */
  readonly text: string;
  readonly loadedAt: number;
}

export interface AgreementRecord {
  /** An account, or a group of accounts. */
  readonly subject: string;
  readonly kind: "account" | "group";
  readonly name: string;
  /** Epoch ms; the agreement holds until the subject's next one. */
  readonly from: number;
}

/** An account's group from `from` on, until its next record; `group: null` says it left its group then. */
export interface MembershipRecord {
  readonly account: string;
  readonly group: string | null;
  /** Epoch ms. */
  readonly from: number;
}

export type LedgerKind = "grant" | "charge" | "adjustment";

export interface LedgerEntry {
  /** Unique: an entry written again with the same key and contents is a no-op; with other contents, a conflict. */
  readonly key: string;
  readonly account: string;
  readonly kind: LedgerKind;
  /** The billing period the entry belongs to ("2026-11"). */
  readonly period: string;
  /** A decimal string: credits added (a grant) or taken (a charge, as a positive amount). */
  readonly amount: string;
  readonly at: number;
  readonly note: string;
}

export interface ChargingStore {
  /** Stores a new policy version; CONFLICT unless `from` is after every earlier version's (the past stays as priced). */
  addPolicyVersion(text: string, from: number, loadedAt: number): Promise<PolicyVersion>;
  /** Every version, oldest first. */
  policyVersions(): Promise<PolicyVersion[]>;
  /** Starts an agreement for the subject at `from`; CONFLICT unless after the subject's latest, so ranges never overlap. */
  setAgreement(record: AgreementRecord): Promise<void>;
  /** The subject's agreements, oldest first. */
  agreements(subject: string, kind: AgreementRecord["kind"]): Promise<AgreementRecord[]>;
  /** Several subjects' agreements in one read: each subject asked for, with its own (maybe none), oldest first. */
  agreementsOf(subjects: readonly string[], kind: AgreementRecord["kind"]): Promise<Map<string, AgreementRecord[]>>;
  /** Puts the account in a group (or in none) from `from`; CONFLICT unless after its latest, so ranges never overlap. */
  setMembership(record: MembershipRecord): Promise<void>;
  /** The account's memberships, oldest first. */
  memberships(account: string): Promise<MembershipRecord[]>;
  /** Several accounts' memberships in one read: each account asked for, with its own (maybe none), oldest first. */
  membershipsOf(accounts: readonly string[]): Promise<Map<string, MembershipRecord[]>>;
  /** Every account charging knows of (an agreement of its own, a group, a ledger entry), in UTF-8 order. */
  accounts(): Promise<string[]>;
  /**
   * Appends entries in one transaction: all or none. Entries whose key is stored with the same contents are
   * counted as existing and not written again; a key stored with other contents is a CONFLICT and nothing is written.
   */
  appendLedger(entries: readonly LedgerEntry[]): Promise<{ written: number; existing: number }>;
  /**
   * Appends several batches in one transaction, all or none, each as appendLedger would; answers each batch's counts.
   * A key stored with other contents anywhere refuses every batch.
   */
  appendLedgers(batches: readonly (readonly LedgerEntry[])[]): Promise<{ written: number; existing: number }[]>;
  /** The account's entries in the order they were written. */
  ledger(account: string): Promise<LedgerEntry[]>;
  /** Several accounts' entries in one read: each account asked for, with its own (maybe none) in written order. */
  ledgers(accounts: readonly string[]): Promise<Map<string, LedgerEntry[]>>;
}

/** Records grouped by subject, every subject asked for present: a page read's answer. */
export function bySubject<T>(subjects: readonly string[], records: readonly T[], subject: (r: T) => string) {
  const out = new Map<string, T[]>(subjects.map((s) => [s, []]));
  for (const r of records) out.get(subject(r))?.push(r);
  return out;
}

/** A stored agreement list as spans, each until the next one's start. */
export function agreementSpans(records: readonly AgreementRecord[]): AgreementSpan[] {
  const sorted = [...records].sort((a, b) => a.from - b.from);
  return sorted.map((r, i) => ({ name: r.name, from: r.from, to: sorted[i + 1]?.from ?? null, source: r.kind }));
}

/**
 * The group agreements that apply to an account: each group's agreements, clipped to the ranges the account is in
 * that group, so they never overlap.
 */
export function groupAgreementSpans(
  memberships: readonly MembershipRecord[],
  groupAgreements: ReadonlyMap<string, readonly AgreementRecord[]>,
): AgreementSpan[] {
  const sorted = [...memberships].sort((a, b) => a.from - b.from);
  const out: AgreementSpan[] = [];
  sorted.forEach((m, i) => {
    if (m.group === null) return;
    const until = sorted[i + 1]?.from ?? null;
    for (const s of agreementSpans(groupAgreements.get(m.group) ?? [])) {
      const from = Math.max(s.from, m.from);
      const to = s.to === null ? until : until === null ? s.to : Math.min(s.to, until);
      if (to === null || from < to) out.push({ name: s.name, from, to, source: "group", group: m.group });
    }
  });
  return out;
}

/** The one rule for an entry written again under the same key. */
export function sameEntry(a: LedgerEntry, b: LedgerEntry): boolean {
  return (
    a.key === b.key &&
    a.account === b.account &&
    a.kind === b.kind &&
    a.period === b.period &&
    a.amount === b.amount &&
    a.at === b.at &&
    a.note === b.note
  );
}

export function keyConflict(key: string): AppError {
  return new AppError("CONFLICT", `ledger entry ${key} is already written with other contents; entries never change`);
}

export function laterThan(what: string, from: number, latest: number): AppError {
  return new AppError(
    "CONFLICT",
    `${what} from ${new Date(from).toISOString()} must start after the latest one, from ${new Date(latest).toISOString()}: ` +
      "ranges never overlap and the past is not rewritten",
  );
}

/** Refuses an entry whose amount is not a decimal string, before anything is written. */
export function checkEntries(entries: readonly LedgerEntry[]): void {
  for (const e of entries) Decimal.parse(e.amount, `ledger entry ${e.key}: amount`);
}

/** A ledger row as an adapter reads it: `at` comes back as a number, bigint or string depending on the driver. */
export interface LedgerRow extends Omit<LedgerEntry, "at"> {
  readonly at: number | bigint | string;
}

export function ledgerEntryOf(row: LedgerRow): LedgerEntry {
  return {
    key: row.key,
    account: row.account,
    kind: row.kind,
    period: row.period,
    amount: row.amount,
    at: Number(row.at),
    note: row.note,
  };
}
