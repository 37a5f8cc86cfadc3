import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { migrate } from "../db/sqlite-migrate.js";
import { authenticate } from "./authenticate.js";
import { createToken } from "./create-token.js";
import { AUTH_MIGRATIONS, SqliteTokenStore } from "./sqlite-token-store.js";
import { describeTokenStoreContract } from "./token-store-contract.js";

const T0 = Date.UTC(2026, 10, 1);

describe("SqliteTokenStore", () => {
  describeTokenStoreContract(async () => {
    return openSqliteBackend({ path: ":memory:", recentKeySlots: 16 });
  });

  it("shares the usage store's file and keeps tokens across a restart", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-tokens-"));
    try {
      const file = path.join(dir, "tally.sqlite");
      let backend = await openSqliteBackend({ path: file, recentKeySlots: 16 });
      expect(backend.tokens).toBeInstanceOf(SqliteTokenStore);
      const { token } = await createToken(backend.tokens, { role: "read" });
      await backend.close();
      backend = await openSqliteBackend({ path: file, recentKeySlots: 16 });
      expect((await backend.tokens.list()).map((t) => t.id)).toEqual([token.id]);
      await backend.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("upgrades a token table from before role metrics, keeping its tokens, and then stores metrics tokens", async () => {
    const db = new Database(":memory:");
    try {
      migrate(db, "auth", AUTH_MIGRATIONS.slice(0, 1));
      const old = new Date(T0).getTime();
      db.prepare(
        "INSERT INTO tokens (id, hash, role, account, servers, note, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ).run("tok_old", "h", "ingest", null, '["s1"]', "kept", old, null);
      expect(() => db.prepare("UPDATE tokens SET role = 'metrics'").run()).toThrow(/CHECK constraint/);
      const store = new SqliteTokenStore(db);
      expect(await store.list()).toEqual([
        {
          id: "tok_old",
          role: "ingest",
          account: null,
          servers: ["s1"],
          note: "kept",
          createdAt: old,
          revokedAt: null,
        },
      ]);
      const { secret } = await createToken(store, { role: "metrics" });
      expect(await authenticate(store, secret)).toMatchObject({ role: "metrics" });
      expect(() => db.prepare("UPDATE tokens SET role = 'boss'").run()).toThrow(/CHECK constraint/);
    } finally {
      db.close();
    }
  });
});
