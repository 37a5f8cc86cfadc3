import { describe } from "vitest";
import { describeUsageStoreContract } from "../contract.js";
import { openSqliteStore } from "./sqlite-store.js";

describe("SqliteUsageStore", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:" }));
});

describe("SqliteUsageStore merging its dedup keys to disk after every few events", () => {
  describeUsageStoreContract(() => openSqliteStore({ path: ":memory:", recentKeySlots: 4 }));
});
