import { describe } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { describeUsageViewContract } from "./usage-view-contract.js";

describe("usage view on SqliteUsageStore", () => {
  describeUsageViewContract(() => openSqliteBackend({ path: ":memory:", recentKeySlots: 1024 }));
});
