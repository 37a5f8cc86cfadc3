// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { openPostgresStore } from "../store/postgres/postgres-store.js";
import { describePetnameStoreContract, type OpenedPetnameStore } from "./petname-store-contract.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

/** A store in a schema of its own, dropped on close; the one place to change when the backend factory builds it. */
async function openPetnames(): Promise<OpenedPetnameStore> {
  const schema = `tally_test_${randomUUID().replaceAll("-", "")}`;
  const usage = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
  return { petnames: usage.petnames, close: () => usage.close() };
}

describe("PostgresPetnameStore", () => {
  describePetnameStoreContract(openPetnames);
});
