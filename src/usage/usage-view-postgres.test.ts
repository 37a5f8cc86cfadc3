// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { describeUsageViewContract } from "./usage-view-contract.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

describe("usage view on PostgresUsageStore", () => {
  describeUsageViewContract(() =>
    openPostgresBackend({ url, schema: `tally_test_${randomUUID().replaceAll("-", "")}`, dropSchemaOnClose: true }),
  );
});
