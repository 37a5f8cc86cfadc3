// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { migrateComponent } from "../db/postgres-migrate.js";
import { authenticate } from "./authenticate.js";
import { createToken } from "./create-token.js";
import { AUTH_MIGRATIONS, openPostgresTokenStore, PostgresTokenStore } from "./postgres-token-store.js";
import { describeTokenStoreContract } from "./token-store-contract.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
const freshSchema = () => `tally_test_${randomUUID().replaceAll("-", "")}`;

describe("PostgresTokenStore", () => {
  describeTokenStoreContract(async () => {
    return openPostgresBackend({ url, schema: freshSchema(), dropSchemaOnClose: true });
  });

  it("lets several nodes over one schema see each other's tokens and revocations at once", async () => {
    const schema = freshSchema();
    const a = await openPostgresBackend({ url, schema });
    const b = await openPostgresBackend({ url, schema, dropSchemaOnClose: true });
    try {
      const [ta, tb] = [a.tokens, b.tokens];
      expect(ta).toBeInstanceOf(PostgresTokenStore);
      const { token } = await createToken(ta, { role: "read" });
      expect((await tb.list()).map((t) => t.id)).toEqual([token.id]);
      await tb.revoke(token.id, Date.now());
      expect((await ta.list())[0]?.revokedAt).not.toBeNull();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("upgrades a token table from before role metrics, keeping its tokens, and then stores metrics tokens", async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schema}` });
    try {
      await pool.query(`CREATE SCHEMA ${schema}`);
      const client = await pool.connect();
      try {
        await migrateComponent(client, "auth", AUTH_MIGRATIONS.slice(0, 1));
      } finally {
        client.release();
      }
      await pool.query(
        "INSERT INTO tokens (id, hash, role, account, servers, note, created_at, revoked_at) VALUES ('tok_old', 'h', 'read', NULL, NULL, 'kept', 5, NULL)",
      );
      await expect(pool.query("UPDATE tokens SET role = 'metrics'")).rejects.toThrow(/tokens_role_check/);
      const store = await openPostgresTokenStore(pool);
      expect(await store.list()).toEqual([
        { id: "tok_old", role: "read", account: null, servers: null, note: "kept", createdAt: 5, revokedAt: null },
      ]);
      const { secret } = await createToken(store, { role: "metrics" });
      expect(await authenticate(store, secret)).toMatchObject({ role: "metrics" });
      await expect(pool.query("UPDATE tokens SET role = 'boss'")).rejects.toThrow(/tokens_role_check/);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    }
  });
});
