import { describe } from "vitest";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { describeUsageViewContract } from "./usage-view-contract.js";

describe("usage view on SqliteUsageStore", () => {
  describeUsageViewContract(() => openSqliteStore({ path: ":memory:", recentKeySlots: 1024 }));
});
