// Petnames and invitations on PostgreSQL, in tables the event store's schema keeps (the usage table searches
// and shows them: store/postgres/petname-tables.ts).

import type pg from "pg";
import { postgresError } from "../db/postgres-errors.js";
import { compareUtf8 } from "../domain/rollup.js";
import {
  acceptedAccount,
  fromInvitationRow,
  INVITATION_COLUMNS,
  type InvitationRow,
  openAt,
} from "./invitation-rules.js";
import type { NewInvitation, OpenInvitation, Petname, PetnameStore } from "./petname-store.js";

const UPSERT = `INSERT INTO petnames (account, name, updated_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
  ON CONFLICT (account) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`;
const INVITATION = `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE code_hash = $1`;

export class PostgresPetnameStore implements PetnameStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(accounts: readonly string[]): Promise<Map<string, string>> {
    if (accounts.length === 0) return new Map();
    const result = await this.query<{ account: string; name: string }>(
      "SELECT account, name FROM petnames WHERE account = ANY($1::text[])",
      [accounts],
    );
    return new Map(result.rows.map((r) => [r.account, r.name]));
  }

  async set(petnames: readonly Petname[]): Promise<void> {
    if (petnames.length === 0) return;
    // One statement is one transaction; the last name given for an account wins, as with one set after another.
    const last = new Map(petnames.map((p) => [p.account, p.name]));
    const accounts = [...last.keys()].sort(compareUtf8);
    const now = Date.now();
    await this.query(UPSERT, [accounts, accounts.map((a) => last.get(a)), accounts.map(() => now)]);
  }

  async remove(account: string): Promise<boolean> {
    const result = await this.query("DELETE FROM petnames WHERE account = $1", [account]);
    return (result.rowCount ?? 0) > 0;
  }

  async createInvitation(invitation: NewInvitation): Promise<void> {
    await this.query(
      "INSERT INTO invitations (code_hash, petname, account, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
      [invitation.codeHash, invitation.petname, invitation.account ?? null, invitation.createdAt, invitation.expiresAt],
    );
  }

  async findOpenInvitation(codeHash: string, now: number): Promise<OpenInvitation> {
    const found = await this.query<InvitationRow>(INVITATION, [codeHash]);
    return openAt(fromInvitationRow(found.rows[0]), now);
  }

  async acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname> {
    const client = await this.pool.connect().catch((error: unknown) => {
      throw postgresError(error);
    });
    try {
      await client.query("BEGIN");
      // The row lock makes a second, concurrent accept of the same code wait, then see it used.
      const found = await client.query<InvitationRow>(`${INVITATION} FOR UPDATE`, [codeHash]);
      const invitation = openAt(fromInvitationRow(found.rows[0]), now);
      const accepted = acceptedAccount(invitation, account);
      await client.query("UPDATE invitations SET accepted_at = $1, account = $2 WHERE code_hash = $3", [
        now,
        accepted,
        codeHash,
      ]);
      await client.query(UPSERT, [[accepted], [invitation.petname], [now]]);
      await client.query("COMMIT");
      return { account: accepted, name: invitation.petname };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw postgresError(error);
    } finally {
      client.release();
    }
  }

  /** One statement; a failure of PostgreSQL's is UNAVAILABLE (503), as in the other PostgreSQL adapters. */
  private async query<R extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, values);
    } catch (error) {
      throw postgresError(error);
    }
  }
}
