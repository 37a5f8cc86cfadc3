// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { createToken } from "./create-token.js";
import { PostgresTokenStore } from "./postgres-token-store.js";
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
});
