import { describe } from "vitest";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { describePetnameStoreContract, type OpenedPetnameStore } from "./petname-store-contract.js";

/** A fresh in-memory store; the one place to change when the backend factory builds the petname store. */
async function openPetnames(): Promise<OpenedPetnameStore> {
  const usage = await openSqliteStore({ path: ":memory:", recentKeySlots: 16 });
  return { petnames: usage.petnames, close: () => usage.close() };
}

describe("SqlitePetnameStore", () => {
  describePetnameStoreContract(openPetnames);
});
