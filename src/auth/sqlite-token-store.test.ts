import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { createToken } from "./create-token.js";
import { openTokenStore } from "./open-token-store.js";
import { SqliteTokenStore } from "./sqlite-token-store.js";
import { describeTokenStoreContract } from "./token-store-contract.js";

describe("SqliteTokenStore", () => {
  describeTokenStoreContract(async () => {
    const usage = await openSqliteStore({ path: ":memory:", recentKeySlots: 16 });
    return { tokens: await openTokenStore(usage), close: () => usage.close() };
  });

  it("shares the usage store's file and keeps tokens across a restart", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-tokens-"));
    try {
      const file = path.join(dir, "tally.sqlite");
      let usage = await openSqliteStore({ path: file, recentKeySlots: 16 });
      const tokens = await openTokenStore(usage);
      expect(tokens).toBeInstanceOf(SqliteTokenStore);
      const { token } = await createToken(tokens, { role: "read" });
      await usage.close();
      usage = await openSqliteStore({ path: file, recentKeySlots: 16 });
      expect((await (await openTokenStore(usage)).list()).map((t) => t.id)).toEqual([token.id]);
      await usage.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
