// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { describe } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { freshSchema, TEST_POSTGRES_URL } from "../store/test-stores.js";
import { describeResolutionContract } from "./resolution-contract.js";

describe("agreement and policy version resolution on PostgreSQL", () => {
  describeResolutionContract(() =>
    openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true }),
  );
});
