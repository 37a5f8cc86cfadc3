import { describe } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { describeBillingRunContract } from "./billing-run-contract.js";

describe("billing runs on SQLite", () => {
  describeBillingRunContract(() => openSqliteBackend({ path: ":memory:", recentKeySlots: 16 }));
});
