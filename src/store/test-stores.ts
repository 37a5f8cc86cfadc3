// The stores a test runs its cases on, each opened fresh: SQLite in memory, PostgreSQL in a schema of its own that
// is dropped on close. PostgreSQL must be reachable (TALLY_TEST_POSTGRES): tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import type { UsageStore } from "./port.js";
import { openPostgresStore } from "./postgres/postgres-store.js";
import { openSqliteStore } from "./sqlite/sqlite-store.js";

export const TEST_POSTGRES_URL = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

/** A schema name no other test uses. */
export const freshSchema = () => `tally_test_${randomUUID().replaceAll("-", "")}`;

/** [name, open] for describe.each. */
export const TEST_STORES: readonly (readonly [string, () => Promise<UsageStore>])[] = [
  ["SQLite", () => openSqliteStore({ path: ":memory:", recentKeySlots: 64 })],
  ["PostgreSQL", () => openPostgresStore({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true })],
];
