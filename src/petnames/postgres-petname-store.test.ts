// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { describePetnameStoreContract, type OpenedPetnameStore } from "./petname-store-contract.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

/** A backend in a schema of its own, dropped on close. */
function openPetnames(): Promise<OpenedPetnameStore> {
  const schema = `tally_test_${randomUUID().replaceAll("-", "")}`;
  return openPostgresBackend({ url, schema, dropSchemaOnClose: true });
}

describe("PostgresPetnameStore", () => {
  describePetnameStoreContract(openPetnames);
});
