import { describe } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { describeChargingStoreContract } from "./charging-store-contract.js";

describe("SqliteChargingStore", () => {
  describeChargingStoreContract(() => openSqliteBackend({ path: ":memory:", recentKeySlots: 16 }));
});
