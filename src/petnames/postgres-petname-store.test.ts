// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { describePetnameStoreContract, type OpenedPetnameStore } from "./petname-store-contract.js";
import { PostgresPetnameStore } from "./postgres-petname-store.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

/** A backend in a schema of its own, dropped on close. */
function openPetnames(): Promise<OpenedPetnameStore> {
  const schema = `tally_test_${randomUUID().replaceAll("-", "")}`;
  return openPostgresBackend({ url, schema, dropSchemaOnClose: true });
}

describe("PostgresPetnameStore", () => {
  describePetnameStoreContract(openPetnames);
});

describe("PostgresPetnameStore when PostgreSQL fails", () => {
  it("says it is unavailable (503), naming PostgreSQL, for every call", async () => {
    // A schema that does not exist: every statement fails inside PostgreSQL.
    const pool = new pg.Pool({ connectionString: url, options: "-c search_path=tally_no_such_schema" });
    const store = new PostgresPetnameStore(pool);
    try {
      const invitation = { codeHash: "h", petname: "P", account: null, createdAt: 0, expiresAt: 1 };
      for (const call of [
        () => store.get(["a"]),
        () => store.set([{ account: "a", name: "A" }]),
        () => store.remove("a"),
        () => store.createInvitation(invitation),
        () => store.findOpenInvitation("h", 0),
        () => store.acceptInvitation("h", "a", 0),
      ]) {
        await expect(call()).rejects.toMatchObject({
          code: "UNAVAILABLE",
          message: expect.stringMatching(/^PostgreSQL: /),
        });
      }
    } finally {
      await pool.end();
    }
  });
});
