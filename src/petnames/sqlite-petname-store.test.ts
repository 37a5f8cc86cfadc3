import { describe } from "vitest";
import { openSqliteBackend } from "../backend/sqlite.js";
import { describePetnameStoreContract, type OpenedPetnameStore } from "./petname-store-contract.js";

/** A fresh in-memory backend. */
function openPetnames(): Promise<OpenedPetnameStore> {
  return openSqliteBackend({ path: ":memory:", recentKeySlots: 16 });
}

describe("SqlitePetnameStore", () => {
  describePetnameStoreContract(openPetnames);
});
