import { describe } from "vitest";
import { openPostgresBackend } from "../backend/postgres.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { freshSchema, TEST_POSTGRES_URL } from "../store/test-stores.js";
import { describeStarRecordStoreContract } from "./star-record-store-contract.js";

describe("SqliteStarRecordStore", () => {
  describeStarRecordStoreContract(() => openSqliteBackend({ path: ":memory:", recentKeySlots: 16 }));
});

describe("PostgresStarRecordStore", () => {
  describeStarRecordStoreContract(() =>
    openPostgresBackend({ url: TEST_POSTGRES_URL, schema: freshSchema(), dropSchemaOnClose: true }),
  );
});
