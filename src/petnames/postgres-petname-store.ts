// Petnames and invitations on PostgreSQL, in tables the event store's schema keeps (the usage table searches
// and shows them: store/postgres/petname-tables.ts).

import type pg from "pg";
import { AppError } from "../domain/errors.js";
import { compareUtf8 } from "../domain/rollup.js";
import type { NewInvitation, Petname, PetnameStore } from "./petname-store.js";

const UPSERT = `INSERT INTO petnames (account, name, updated_at) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
  ON CONFLICT (account) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`;

export class PostgresPetnameStore implements PetnameStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(accounts: readonly string[]): Promise<Map<string, string>> {
    if (accounts.length === 0) return new Map();
    const result = await this.pool.query<{ account: string; name: string }>(
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
    await this.pool.query(UPSERT, [accounts, accounts.map((a) => last.get(a)), accounts.map(() => now)]);
  }

  async remove(account: string): Promise<boolean> {
    const result = await this.pool.query("DELETE FROM petnames WHERE account = $1", [account]);
    return (result.rowCount ?? 0) > 0;
  }

  async createInvitation(invitation: NewInvitation): Promise<void> {
    await this.pool.query(
      "INSERT INTO invitations (code_hash, petname, created_at, expires_at) VALUES ($1, $2, $3, $4)",
      [invitation.codeHash, invitation.petname, invitation.createdAt, invitation.expiresAt],
    );
  }

  async acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      // The row lock makes a second, concurrent accept of the same code wait, then see it used.
      const found = await client.query<{ petname: string; expires_at: string; accepted_at: string | null }>(
        "SELECT petname, expires_at, accepted_at FROM invitations WHERE code_hash = $1 FOR UPDATE",
        [codeHash],
      );
      const invitation = found.rows[0];
      if (!invitation) throw new AppError("NOT_FOUND", "unknown invitation code");
      if (invitation.accepted_at !== null) throw new AppError("CONFLICT", "this invitation code has already been used");
      if (Number(invitation.expires_at) <= now) {
        const when = new Date(Number(invitation.expires_at)).toISOString();
        throw new AppError("CONFLICT", `this invitation code expired at ${when}`);
      }
      await client.query("UPDATE invitations SET accepted_at = $1, account = $2 WHERE code_hash = $3", [
        now,
        account,
        codeHash,
      ]);
      await client.query(UPSERT, [[account], [invitation.petname], [now]]);
      await client.query("COMMIT");
      return { account, name: invitation.petname };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
