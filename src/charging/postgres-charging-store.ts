// The charging store on PostgreSQL, in tables of its own in the backend's schema, on its pool.

import type pg from "pg";
import { postgresError } from "../db/postgres-errors.js";
import { migrateComponent } from "../db/postgres-migrate.js";
import { AppError, messageOf } from "../domain/errors.js";
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
    version integer PRIMARY KEY, from_ms bigint NOT NULL, text text NOT NULL, loaded_at bigint NOT NULL
  );
  CREATE TABLE charging_agreements (
    subject text COLLATE "C" NOT NULL, kind text NOT NULL CHECK (kind IN ('account', 'group')), from_ms bigint NOT NULL,
    name text NOT NULL, PRIMARY KEY (kind, subject, from_ms)
  );
  -- Immutable: rows are only ever inserted.
  CREATE TABLE charging_ledger (
    seq bigserial PRIMARY KEY, key text NOT NULL UNIQUE, account text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('grant', 'charge', 'adjustment')), period text NOT NULL,
    amount numeric NOT NULL, at bigint NOT NULL, note text NOT NULL
  );
  CREATE INDEX charging_ledger_account ON charging_ledger (account, seq);
  `,
  `
  -- An account's group over time: each row holds until the account's next; grp NULL is no group.
  CREATE TABLE charging_memberships (
    account text COLLATE "C" NOT NULL, from_ms bigint NOT NULL, grp text, PRIMARY KEY (account, from_ms)
  );
  `,
];

/** A lock per table for writes that check then insert, so two nodes cannot both pass the check. */
const LOCK_POLICIES = "LOCK TABLE charging_policies IN SHARE ROW EXCLUSIVE MODE";
const LOCK_AGREEMENTS = "LOCK TABLE charging_agreements IN SHARE ROW EXCLUSIVE MODE";
const LOCK_MEMBERSHIPS = "LOCK TABLE charging_memberships IN SHARE ROW EXCLUSIVE MODE";
const LOCK_LEDGER = "LOCK TABLE charging_ledger IN SHARE ROW EXCLUSIVE MODE";
const LEDGER_COLUMNS = "key, account, kind, period, amount::text AS amount, at, note";

/** Adds the charging tables to the pool's schema if needed; `pool` is the backend's and stays its to close. */
export async function openPostgresChargingStore(pool: pg.Pool): Promise<PostgresChargingStore> {
  const client = await pool.connect();
  try {
    await migrateComponent(client, "charging", CHARGING_MIGRATIONS);
  } catch (error) {
    throw new AppError("UNAVAILABLE", `cannot prepare the PostgreSQL charging tables: ${messageOf(error)}`);
  } finally {
    client.release();
  }
  return new PostgresChargingStore(pool);
}

export class PostgresChargingStore implements ChargingStore {
  constructor(private readonly pool: pg.Pool) {}

  async addPolicyVersion(text: string, from: number, loadedAt: number): Promise<PolicyVersion> {
    return this.transaction(async (c) => {
      await c.query(LOCK_POLICIES);
      const latest = await c.query<{ version: number; from_ms: string }>(
        "SELECT version, from_ms FROM charging_policies ORDER BY version DESC LIMIT 1",
      );
      const row = latest.rows[0];
      if (row && from <= Number(row.from_ms)) throw laterThan("a policy version", from, Number(row.from_ms));
      const version = (row?.version ?? 0) + 1;
      await c.query("INSERT INTO charging_policies (version, from_ms, text, loaded_at) VALUES ($1, $2, $3, $4)", [
        version,
        from,
        text,
        loadedAt,
      ]);
      return { version, from, text, loadedAt };
    });
  }

  async policyVersions(): Promise<PolicyVersion[]> {
    const result = await this.query<{ version: number; from_ms: string; text: string; loaded_at: string }>(
      "SELECT version, from_ms, text, loaded_at FROM charging_policies ORDER BY version",
    );
    return result.rows.map((r) => ({
      version: r.version,
      from: Number(r.from_ms),
      text: r.text,
      loadedAt: Number(r.loaded_at),
    }));
  }

  async setAgreement(record: AgreementRecord): Promise<void> {
    await this.transaction(async (c) => {
      await c.query(LOCK_AGREEMENTS);
      const latest = await c.query<{ from_ms: string }>(
        "SELECT from_ms FROM charging_agreements WHERE kind = $1 AND subject = $2 ORDER BY from_ms DESC LIMIT 1",
        [record.kind, record.subject],
      );
      const row = latest.rows[0];
      if (row && record.from <= Number(row.from_ms)) {
        throw laterThan(`an agreement of ${record.kind} ${record.subject}`, record.from, Number(row.from_ms));
      }
      await c.query("INSERT INTO charging_agreements (subject, kind, from_ms, name) VALUES ($1, $2, $3, $4)", [
        record.subject,
        record.kind,
        record.from,
        record.name,
      ]);
    });
  }

  async agreements(subject: string, kind: AgreementRecord["kind"]): Promise<AgreementRecord[]> {
    return (await this.agreementsOf([subject], kind)).get(subject) as AgreementRecord[];
  }

  async agreementsOf(subjects: readonly string[], kind: AgreementRecord["kind"]) {
    const result = await this.query<{ subject: string; kind: "account" | "group"; from_ms: string; name: string }>(
      `SELECT subject, kind, from_ms, name FROM charging_agreements WHERE kind = $1 AND subject = ANY($2::text[])
       ORDER BY subject, from_ms`,
      [kind, subjects],
    );
    const records = result.rows.map((r) => ({
      subject: r.subject,
      kind: r.kind,
      name: r.name,
      from: Number(r.from_ms),
    }));
    return bySubject(subjects, records, (r) => r.subject);
  }

  async setMembership(record: MembershipRecord): Promise<void> {
    await this.transaction(async (c) => {
      await c.query(LOCK_MEMBERSHIPS);
      const latest = await c.query<{ from_ms: string }>(
        "SELECT from_ms FROM charging_memberships WHERE account = $1 ORDER BY from_ms DESC LIMIT 1",
        [record.account],
      );
      const row = latest.rows[0];
      if (row && record.from <= Number(row.from_ms)) {
        throw laterThan(`a group membership of account ${record.account}`, record.from, Number(row.from_ms));
      }
      await c.query("INSERT INTO charging_memberships (account, from_ms, grp) VALUES ($1, $2, $3)", [
        record.account,
        record.from,
        record.group,
      ]);
    });
  }

  async accounts(): Promise<string[]> {
    const result = await this.query<{ account: string }>(
      `SELECT account FROM (SELECT subject AS account FROM charging_agreements WHERE kind = 'account'
         UNION SELECT account FROM charging_memberships UNION SELECT account FROM charging_ledger) a
       ORDER BY account COLLATE "C"`,
    );
    return result.rows.map((r) => r.account);
  }

  async memberships(account: string): Promise<MembershipRecord[]> {
    return (await this.membershipsOf([account])).get(account) as MembershipRecord[];
  }

  async membershipsOf(accounts: readonly string[]) {
    const result = await this.query<{ account: string; from_ms: string; grp: string | null }>(
      "SELECT account, from_ms, grp FROM charging_memberships WHERE account = ANY($1::text[]) ORDER BY account, from_ms",
      [accounts],
    );
    const records = result.rows.map((r) => ({ account: r.account, group: r.grp, from: Number(r.from_ms) }));
    return bySubject(accounts, records, (r) => r.account);
  }

  async appendLedger(entries: readonly LedgerEntry[]): Promise<{ written: number; existing: number }> {
    return (await this.appendLedgers([entries]))[0] as { written: number; existing: number };
  }

  async appendLedgers(batches: readonly (readonly LedgerEntry[])[]): Promise<{ written: number; existing: number }[]> {
    for (const entries of batches) checkEntries(entries);
    const all = batches.flat();
    if (all.length === 0) return batches.map(() => ({ written: 0, existing: 0 }));
    return this.transaction(async (c) => {
      await c.query(LOCK_LEDGER);
      const stored = await c.query<LedgerRow>(
        `SELECT ${LEDGER_COLUMNS} FROM charging_ledger WHERE key = ANY($1::text[])`,
        [all.map((e) => e.key)],
      );
      const known = new Map(stored.rows.map((r) => [r.key, ledgerEntryOf(r)]));
      const fresh: LedgerEntry[] = [];
      const counts = batches.map((entries) => {
        const counted = { written: 0, existing: 0 };
        for (const e of entries) {
          const earlier = known.get(e.key);
          if (earlier) {
            // numeric keeps a value's scale, so its text comes back as written ("1.50" stays "1.50").
            if (!sameEntry(earlier, e)) throw keyConflict(e.key);
            counted.existing++;
            continue;
          }
          known.set(e.key, e);
          fresh.push(e);
          counted.written++;
        }
        return counted;
      });
      if (fresh.length > 0) {
        // One statement for every new entry; the ordinality keeps their order in seq.
        await c.query(
          `INSERT INTO charging_ledger (key, account, kind, period, amount, at, note)
           SELECT key, account, kind, period, amount, at, note
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::bigint[], $7::text[])
             WITH ORDINALITY AS e (key, account, kind, period, amount, at, note, n)
           ORDER BY n`,
          [
            fresh.map((e) => e.key),
            fresh.map((e) => e.account),
            fresh.map((e) => e.kind),
            fresh.map((e) => e.period),
            fresh.map((e) => e.amount),
            fresh.map((e) => e.at),
            fresh.map((e) => e.note),
          ],
        );
      }
      return counts;
    });
  }

  async ledger(account: string): Promise<LedgerEntry[]> {
    return (await this.ledgers([account])).get(account) as LedgerEntry[];
  }

  async ledgers(accounts: readonly string[]) {
    const result = await this.query<LedgerRow>(
      `SELECT ${LEDGER_COLUMNS} FROM charging_ledger WHERE account = ANY($1::text[]) ORDER BY seq`,
      [accounts],
    );
    return bySubject(accounts, result.rows.map(ledgerEntryOf), (e) => e.account);
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw postgresError(error);
    }
  }

  private async transaction<T>(f: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw postgresError(error);
    }
    try {
      await client.query("BEGIN");
      const result = await f(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw postgresError(error);
    } finally {
      client.release();
    }
  }
}
