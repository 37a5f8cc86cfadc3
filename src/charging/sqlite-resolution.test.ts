import { describe } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { describeResolutionContract } from "./resolution-contract.js";

describe("agreement and policy version resolution on SQLite", () => {
  describeResolutionContract(async () => openSqliteBackend({ path: ":memory:", recentKeySlots: 16 }));
});
