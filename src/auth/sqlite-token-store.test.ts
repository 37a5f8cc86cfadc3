import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createToken } from "./create-token.js";
import { SqliteTokenStore } from "./sqlite-token-store.js";
import { describeTokenStoreContract } from "./token-store-contract.js";

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
});
