// The charging store on SQLite, in tables of its own on the backend's connection.

import type Database from "better-sqlite3";
import { migrate } from "../db/sqlite-migrate.js";
import {
  type AgreementRecord,
  bySubject,
  type ChargingStore,
  checkEntries,
  keyConflict,
  type LedgerEntry,
  type LedgerRow,
  laterThan,
  ledgerEntryOf,
  type MembershipRecord,
  type PolicyVersion,
  sameEntry,
} from "./charging-store.js";

export const CHARGING_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE charging_policies (
    version INTEGER PRIMARY KEY, from_ms INTEGER NOT NULL, text TEXT NOT NULL, loaded_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE charging_agreements (
    subject TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('account', 'group')), from_ms INTEGER NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY (kind, subject, from_ms)
  ) STRICT, WITHOUT ROWID;
  -- Immutable: rows are only ever inserted.
  CREATE TABLE charging_ledger (
    seq INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, account TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'charge', 'adjustment')), period TEXT NOT NULL,
    amount TEXT NOT NULL, at INTEGER NOT NULL, note TEXT NOT NULL
  ) STRICT;
  CREATE INDEX charging_ledger_account ON charging_ledger (account, seq);
  `,
  `
  -- An account's group over time: each row holds until the account's next; grp NULL is no group.
  CREATE TABLE charging_memberships (
    account TEXT NOT NULL, from_ms INTEGER NOT NULL, grp TEXT, PRIMARY KEY (account, from_ms)
  ) STRICT, WITHOUT ROWID;
  `,
];

const ACCOUNTS = `SELECT subject AS account FROM charging_agreements WHERE kind = 'account'
  UNION SELECT account FROM charging_memberships UNION SELECT account FROM charging_ledger`;

/** A list of subjects as JSON for json_each, each once: a subject named twice must not read its rows twice. */
const distinct = (subjects: readonly string[]) => JSON.stringify([...new Set(subjects)]);

export class SqliteChargingStore implements ChargingStore {
  private readonly sql;

  constructor(private readonly db: Database.Database) {
    migrate(db, "charging", CHARGING_MIGRATIONS);
    this.sql = {
      latestPolicy: db.prepare<[], { version: number; from_ms: number }>(
        "SELECT version, from_ms FROM charging_policies ORDER BY version DESC LIMIT 1",
      ),
      insertPolicy: db.prepare("INSERT INTO charging_policies (version, from_ms, text, loaded_at) VALUES (?, ?, ?, ?)"),
      policies: db.prepare<[], { version: number; from_ms: number; text: string; loaded_at: number }>(
        "SELECT version, from_ms, text, loaded_at FROM charging_policies ORDER BY version",
      ),
      latestAgreement: db.prepare<[string, string], { from_ms: number }>(
        "SELECT from_ms FROM charging_agreements WHERE kind = ? AND subject = ? ORDER BY from_ms DESC LIMIT 1",
      ),
      insertAgreement: db.prepare("INSERT INTO charging_agreements (subject, kind, from_ms, name) VALUES (?, ?, ?, ?)"),
      agreements: db.prepare<
        [string, string],
        { subject: string; kind: "account" | "group"; from_ms: number; name: string }
      >(
        `SELECT a.subject, a.kind, a.from_ms, a.name
         FROM json_each(?) j CROSS JOIN charging_agreements a ON a.kind = ? AND a.subject = j.value
         ORDER BY a.subject, a.from_ms`,
      ),
      latestMembership: db.prepare<[string], { from_ms: number }>(
        "SELECT from_ms FROM charging_memberships WHERE account = ? ORDER BY from_ms DESC LIMIT 1",
      ),
      insertMembership: db.prepare("INSERT INTO charging_memberships (account, from_ms, grp) VALUES (?, ?, ?)"),
      accounts: db.prepare<[], string>(`SELECT account FROM (${ACCOUNTS}) ORDER BY account`).pluck(),
      memberships: db.prepare<[string], { account: string; from_ms: number; grp: string | null }>(
        `SELECT m.account, m.from_ms, m.grp FROM json_each(?) j CROSS JOIN charging_memberships m ON m.account = j.value
         ORDER BY m.account, m.from_ms`,
      ),
      entry: db.prepare<[string], LedgerRow>(
        "SELECT key, account, kind, period, amount, at, note FROM charging_ledger WHERE key = ?",
      ),
      // A key already written is left as it is, and the entry compared with it.
      insertEntry: db.prepare(
        `INSERT INTO charging_ledger (key, account, kind, period, amount, at, note) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO NOTHING`,
      ),
      ledger: db.prepare<[string], LedgerRow>(
        `SELECT l.key, l.account, l.kind, l.period, l.amount, l.at, l.note
         FROM json_each(?) j CROSS JOIN charging_ledger l ON l.account = j.value ORDER BY l.account, l.seq`,
      ),
    };
  }

  async addPolicyVersion(text: string, from: number, loadedAt: number): Promise<PolicyVersion> {
    return this.db.transaction(() => {
      const latest = this.sql.latestPolicy.get();
      if (latest && from <= Number(latest.from_ms)) throw laterThan("a policy version", from, Number(latest.from_ms));
      const version = Number(latest?.version ?? 0) + 1;
      this.sql.insertPolicy.run(version, from, text, loadedAt);
      return { version, from, text, loadedAt };
    })();
  }

  async policyVersions(): Promise<PolicyVersion[]> {
    return this.sql.policies.all().map((r) => ({
      version: Number(r.version),
      from: Number(r.from_ms),
      text: r.text,
      loadedAt: Number(r.loaded_at),
    }));
  }

  async setAgreement(record: AgreementRecord): Promise<void> {
    this.db.transaction(() => {
      const latest = this.sql.latestAgreement.get(record.kind, record.subject);
      if (latest && record.from <= Number(latest.from_ms)) {
        throw laterThan(`an agreement of ${record.kind} ${record.subject}`, record.from, Number(latest.from_ms));
      }
      this.sql.insertAgreement.run(record.subject, record.kind, record.from, record.name);
    })();
  }

  async agreements(subject: string, kind: AgreementRecord["kind"]): Promise<AgreementRecord[]> {
    return (await this.agreementsOf([subject], kind)).get(subject) as AgreementRecord[];
  }

  async agreementsOf(subjects: readonly string[], kind: AgreementRecord["kind"]) {
    const rows = this.sql.agreements.all(distinct(subjects), kind);
    const records = rows.map((r) => ({ subject: r.subject, kind: r.kind, name: r.name, from: Number(r.from_ms) }));
    return bySubject(subjects, records, (r) => r.subject);
  }

  async setMembership(record: MembershipRecord): Promise<void> {
    this.db.transaction(() => {
      const latest = this.sql.latestMembership.get(record.account);
      if (latest && record.from <= Number(latest.from_ms)) {
        throw laterThan(`a group membership of account ${record.account}`, record.from, Number(latest.from_ms));
      }
      this.sql.insertMembership.run(record.account, record.from, record.group);
    })();
  }

  async accounts(): Promise<string[]> {
    return this.sql.accounts.all();
  }

  async memberships(account: string): Promise<MembershipRecord[]> {
    return (await this.membershipsOf([account])).get(account) as MembershipRecord[];
  }

  async membershipsOf(accounts: readonly string[]) {
    const rows = this.sql.memberships.all(distinct(accounts));
    const records = rows.map((r) => ({ account: r.account, group: r.grp, from: Number(r.from_ms) }));
    return bySubject(accounts, records, (r) => r.account);
  }

  async appendLedger(entries: readonly LedgerEntry[]): Promise<{ written: number; existing: number }> {
    return (await this.appendLedgers([entries]))[0] as { written: number; existing: number };
  }

  async appendLedgers(batches: readonly (readonly LedgerEntry[])[]): Promise<{ written: number; existing: number }[]> {
    for (const entries of batches) checkEntries(entries);
    return this.db.transaction(() =>
      batches.map((entries) => {
        const counts = { written: 0, existing: 0 };
        for (const e of entries) {
          if (this.sql.insertEntry.run(e.key, e.account, e.kind, e.period, e.amount, e.at, e.note).changes === 1) {
            counts.written++;
            continue;
          }
          if (!sameEntry(ledgerEntryOf(this.sql.entry.get(e.key) as LedgerRow), e)) throw keyConflict(e.key);
          counts.existing++;
        }
        return counts;
      }),
    )();
  }

  async ledger(account: string): Promise<LedgerEntry[]> {
    return (await this.ledgers([account])).get(account) as LedgerEntry[];
  }

  async ledgers(accounts: readonly string[]) {
    return bySubject(accounts, this.sql.ledger.all(distinct(accounts)).map(ledgerEntryOf), (e) => e.account);
  }
}
