// Petnames and invitations on SQLite, in tables the event store's database keeps (the usage table searches and
// shows them: store/sqlite/petname-tables.ts).

import type Database from "better-sqlite3";
import { AppError } from "../domain/errors.js";
import type { NewInvitation, Petname, PetnameStore } from "./petname-store.js";

export class SqlitePetnameStore implements PetnameStore {
  private readonly sql;

  constructor(private readonly db: Database.Database) {
    this.sql = {
      get: db.prepare<[string], { account: string; name: string }>(
        "SELECT p.account, p.name FROM json_each(?) j CROSS JOIN petnames p ON p.account = j.value",
      ),
      set: db.prepare(
        `INSERT INTO petnames (account, name, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (account) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
      ),
      remove: db.prepare("DELETE FROM petnames WHERE account = ?"),
      insertInvitation: db.prepare(
        "INSERT INTO invitations (code_hash, petname, created_at, expires_at) VALUES (?, ?, ?, ?)",
      ),
      invitation: db.prepare<[string], { petname: string; expires_at: bigint | number; accepted_at: unknown }>(
        "SELECT petname, expires_at, accepted_at FROM invitations WHERE code_hash = ?",
      ),
      useInvitation: db.prepare(
        "UPDATE invitations SET accepted_at = ?, account = ? WHERE code_hash = ? AND accepted_at IS NULL",
      ),
    };
  }

  async get(accounts: readonly string[]): Promise<Map<string, string>> {
    if (accounts.length === 0) return new Map();
    return new Map(this.sql.get.all(JSON.stringify(accounts)).map((p) => [p.account, p.name]));
  }

  async set(petnames: readonly Petname[]): Promise<void> {
    const now = Date.now();
    this.db.transaction(() => {
      for (const p of petnames) this.sql.set.run(p.account, p.name, now);
    })();
  }

  async remove(account: string): Promise<boolean> {
    return this.sql.remove.run(account).changes > 0;
  }

  async createInvitation(invitation: NewInvitation): Promise<void> {
    this.sql.insertInvitation.run(invitation.codeHash, invitation.petname, invitation.createdAt, invitation.expiresAt);
  }

  async acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname> {
    return this.db.transaction(() => {
      const invitation = this.sql.invitation.get(codeHash);
      if (!invitation) throw new AppError("NOT_FOUND", "unknown invitation code");
      if (invitation.accepted_at !== null) throw new AppError("CONFLICT", "this invitation code has already been used");
      if (Number(invitation.expires_at) <= now) {
        const when = new Date(Number(invitation.expires_at)).toISOString();
        throw new AppError("CONFLICT", `this invitation code expired at ${when}`);
      }
      this.sql.useInvitation.run(now, account, codeHash);
      this.sql.set.run(account, invitation.petname, now);
      return { account, name: invitation.petname };
    })();
  }
}
