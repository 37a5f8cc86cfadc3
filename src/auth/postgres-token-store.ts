// Tokens in the PostgreSQL database of the usage store, on its pool (and so in its schema).

import type pg from "pg";
import { postgresError } from "../db/postgres-errors.js";
import { migrateComponent } from "../db/postgres-migrate.js";
import { AppError, messageOf } from "../domain/errors.js";
import type { Role } from "./principal.js";
import type { TokenRecord } from "./token.js";
import type { StoredToken, TokenStore } from "./token-store.js";

export const AUTH_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tokens (
    id text PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('admin', 'ingest', 'read', 'account')),
    account text,
    servers text[],
    note text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
  );
  `,
  `
  ALTER TABLE tokens DROP CONSTRAINT tokens_role_check,
    ADD CONSTRAINT tokens_role_check CHECK (role IN ('admin', 'ingest', 'read', 'account', 'metrics'));
  `,
];

interface TokenRow {
  id: string;
  role: Role;
  account: string | null;
  servers: string[] | null;
  note: string;
  created_at: string;
  revoked_at: string | null;
}

const COLUMNS = "id, role, account, servers, note, created_at, revoked_at";
const INSERT = `INSERT INTO tokens (id, hash, role, account, servers, note, created_at, revoked_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`;

/** Adds the token tables to the pool's schema if needed; `pool` is the usage store's and stays its to close. */
export async function openPostgresTokenStore(pool: pg.Pool): Promise<PostgresTokenStore> {
  const client = await pool.connect();
  try {
    await migrateComponent(client, "auth", AUTH_MIGRATIONS);
  } catch (error) {
    throw new AppError("UNAVAILABLE", `cannot prepare the PostgreSQL token tables: ${messageOf(error)}`);
  } finally {
    client.release();
  }
  return new PostgresTokenStore(pool);
}

export class PostgresTokenStore implements TokenStore {
  constructor(private readonly pool: pg.Pool) {}

  async insert(token: StoredToken): Promise<void> {
    await this.query(INSERT, params(token));
  }

  async insertIfEmpty(token: StoredToken): Promise<boolean> {
    const client = await this.connect();
    try {
      await client.query("BEGIN");
      // Several nodes may start at once over one database: the table lock makes check-then-insert atomic.
      await client.query("LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE");
      const any = await client.query("SELECT 1 FROM tokens LIMIT 1");
      if (any.rowCount !== 0) {
        await client.query("ROLLBACK");
        return false;
      }
      await client.query(INSERT, params(token));
      await client.query("COMMIT");
      return true;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw postgresError(error);
    } finally {
      client.release();
    }
  }

  async findByHash(hash: string): Promise<TokenRecord | null> {
    const result = await this.query<TokenRow>(`SELECT ${COLUMNS} FROM tokens WHERE hash = $1`, [hash]);
    const row = result.rows[0];
    return row ? fromRow(row) : null;
  }

  async list(): Promise<TokenRecord[]> {
    const result = await this.query<TokenRow>(`SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`);
    return result.rows.map(fromRow);
  }

  async revoke(id: string, at: number): Promise<TokenRecord | null> {
    // One statement: revoke if not revoked yet, and return the row as it now stands either way.
    const result = await this.query<TokenRow>(
      `WITH updated AS (
         UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}
       )
       SELECT ${COLUMNS} FROM updated
       UNION ALL
       SELECT ${COLUMNS} FROM tokens WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM updated)`,
      [id, at],
    );
    const row = result.rows[0];
    return row ? fromRow(row) : null;
  }

  private async query<R extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, values);
    } catch (error) {
      throw postgresError(error);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw postgresError(error);
    }
  }
}

function params(t: StoredToken): unknown[] {
  return [
    t.id,
    t.hash,
    t.role,
    t.account,
    t.servers === null ? null : [...t.servers],
    t.note,
    t.createdAt,
    t.revokedAt,
  ];
}

function fromRow(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    role: row.role,
    account: row.account,
    servers: row.servers,
    note: row.note,
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}
