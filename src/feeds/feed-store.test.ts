// The feed store contract on both backends (PostgreSQL must be reachable: these fail rather than skip without it).

import { describe } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { freshSchema, TEST_POSTGRES_URL } from "../store/test-stores.js";
import { describeFeedStoreContract } from "./feed-store-contract.js";

describe("SqliteFeedStore", () => {
  describeFeedStoreContract(() => openSqliteBackend({ path: ":memory:", recentKeySlots: 16 }));
});

describe("PostgresFeedStore", () => {
  describeFeedStoreContract(() =>
    openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true }),
  );
});
