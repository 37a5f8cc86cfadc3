// Petnames and invitations on SQLite, in tables the event store's database keeps (the usage table searches and
// shows them: store/sqlite/petname-tables.ts).

import type Database from "better-sqlite3";
import {
  acceptedAccount,
  fromInvitationRow,
  INVITATION_COLUMNS,
  type InvitationRow,
  openAt,
  type StoredInvitation,
} from "./invitation-rules.js";
import type { NewInvitation, OpenInvitation, Petname, PetnameStore } from "./petname-store.js";

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
        "INSERT INTO invitations (code_hash, petname, account, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
      ),
      invitation: db.prepare<[string], InvitationRow>(
        `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE code_hash = ?`,
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
    const { codeHash, petname, account, createdAt, expiresAt } = invitation;
    this.sql.insertInvitation.run(codeHash, petname, account ?? null, createdAt, expiresAt);
  }

  async findOpenInvitation(codeHash: string, now: number): Promise<OpenInvitation> {
    return openAt(this.invitation(codeHash), now);
  }

  async acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname> {
    return this.db.transaction(() => {
      const invitation = openAt(this.invitation(codeHash), now);
      const accepted = acceptedAccount(invitation, account);
      this.sql.useInvitation.run(now, accepted, codeHash);
      this.sql.set.run(accepted, invitation.petname, now);
      return { account: accepted, name: invitation.petname };
    })();
  }

  private invitation(codeHash: string): StoredInvitation | undefined {
    return fromInvitationRow(this.sql.invitation.get(codeHash));
  }
}
