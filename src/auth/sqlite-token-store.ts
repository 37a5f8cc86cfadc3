// Tokens in the SQLite file of the usage store, on its connection (the file is opened exclusively).

import type Database from "better-sqlite3";
import { migrate } from "../db/sqlite-migrate.js";
import type { Role } from "./principal.js";
import type { TokenRecord } from "./token.js";
import type { StoredToken, TokenStore } from "./token-store.js";

export const AUTH_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'ingest', 'read', 'account')),
    account TEXT,
    servers TEXT,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  `,
  // Role metrics: SQLite cannot change a CHECK constraint, so the table is copied into one that has the new one.
  `
  CREATE TABLE tokens_new (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'ingest', 'read', 'account', 'metrics')),
    account TEXT,
    servers TEXT,
    note TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  INSERT INTO tokens_new (id, hash, role, account, servers, note, created_at, revoked_at)
    SELECT id, hash, role, account, servers, note, created_at, revoked_at FROM tokens;
  DROP TABLE tokens;
  ALTER TABLE tokens_new RENAME TO tokens;
  `,
];

interface TokenRow {
  id: string;
  role: Role;
  account: string | null;
  servers: string | null;
  note: string;
  created_at: number | bigint;
  revoked_at: number | bigint | null;
}

const COLUMNS = "id, role, account, servers, note, created_at, revoked_at";

export class SqliteTokenStore implements TokenStore {
  private readonly sql;

  /** `db` is the usage store's connection: this adapter adds its tables and never closes it. */
  constructor(private readonly db: Database.Database) {
    migrate(db, "auth", AUTH_MIGRATIONS);
    this.sql = {
      insert: db.prepare(
        "INSERT INTO tokens (id, hash, role, account, servers, note, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      any: db.prepare("SELECT 1 FROM tokens LIMIT 1").pluck(),
      byHash: db.prepare(`SELECT ${COLUMNS} FROM tokens WHERE hash = ?`),
      byId: db.prepare(`SELECT ${COLUMNS} FROM tokens WHERE id = ?`),
      list: db.prepare(`SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`),
      revoke: db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
    };
  }

  async insert(token: StoredToken): Promise<void> {
    this.insertRow(token);
  }

  async insertIfEmpty(token: StoredToken): Promise<boolean> {
    // One connection, one process: a transaction is enough to make check-then-insert atomic.
    return this.db.transaction(() => {
      if (this.sql.any.get() !== undefined) return false;
      this.insertRow(token);
      return true;
    })();
  }

  async findByHash(hash: string): Promise<TokenRecord | null> {
    const row = this.sql.byHash.get(hash) as TokenRow | undefined;
    return row ? fromRow(row) : null;
  }

  async list(): Promise<TokenRecord[]> {
    return (this.sql.list.all() as TokenRow[]).map(fromRow);
  }

  async revoke(id: string, at: number): Promise<TokenRecord | null> {
    return this.db.transaction(() => {
      this.sql.revoke.run(at, id);
      const row = this.sql.byId.get(id) as TokenRow | undefined;
      return row ? fromRow(row) : null;
    })();
  }

  private insertRow(t: StoredToken): void {
    this.sql.insert.run(
      t.id,
      t.hash,
      t.role,
      t.account,
      t.servers === null ? null : JSON.stringify(t.servers),
      t.note,
      t.createdAt,
      t.revokedAt,
    );
  }
}

function fromRow(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    role: row.role,
    account: row.account,
    servers: row.servers === null ? null : (JSON.parse(row.servers) as string[]),
    note: row.note,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}
