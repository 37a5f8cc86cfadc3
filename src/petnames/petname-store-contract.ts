// The shared suite every PetnameStore adapter runs: petnames by account, and invitations used once.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../domain/errors.js";
import { hashCode } from "./petname.js";
import type { NewInvitation, Petname, PetnameStore } from "./petname-store.js";

export interface OpenedPetnameStore {
  readonly petnames: PetnameStore;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 10, 1);

function invitation(code: string, petname: string, expiresAt = T0 + 60_000): NewInvitation {
  return { codeHash: hashCode(code), petname, createdAt: T0, expiresAt };
}

/** The error a promise rejects with, or a failure when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(AppError);
  return outcome.error as AppError;
}

export function describePetnameStoreContract(open: () => Promise<OpenedPetnameStore>): void {
  let opened: OpenedPetnameStore;
  let store: PetnameStore;
  beforeEach(async () => {
    opened = await open();
    store = opened.petnames;
  });
  afterEach(async () => {
    await opened.close();
  });

  describe("get and set", () => {
    it("answers the names of several accounts at once and leaves accounts without one out", async () => {
      await store.set([
        { account: "a", name: "Alice" },
        { account: "b", name: "Bob" },
        { account: "c", name: "Carol" },
      ]);
      expect(await store.get(["c", "nobody", "a", "a"])).toEqual(
        new Map([
          ["c", "Carol"],
          ["a", "Alice"],
        ]),
      );
      expect(await store.get(["nobody"])).toEqual(new Map());
      expect(await store.get([])).toEqual(new Map());
    });

    it("reads a page's worth of accounts in one call", async () => {
      const many: Petname[] = Array.from({ length: 2500 }, (_, i) => ({ account: `acct-${i}`, name: `Name ${i}` }));
      await store.set(many);
      const asked = many.filter((_, i) => i % 2 === 0).map((p) => p.account);
      const found = await store.get([...asked, "acct-missing"]);
      expect(found.size).toBe(1250);
      expect(found.get("acct-2498")).toBe("Name 2498");
      expect(found.has("acct-1")).toBe(false);
    });

    it("replaces a name, and within one batch the last name given for an account wins", async () => {
      await store.set([{ account: "a", name: "Alice" }]);
      await store.set([{ account: "a", name: "Alice B." }]);
      expect(await store.get(["a"])).toEqual(new Map([["a", "Alice B."]]));
      await store.set([
        { account: "b", name: "first" },
        { account: "a", name: "Alice C." },
        { account: "b", name: "last" },
      ]);
      expect(await store.get(["a", "b"])).toEqual(
        new Map([
          ["a", "Alice C."],
          ["b", "last"],
        ]),
      );
    });

    it("stores nothing of a batch when one entry is refused, and keeps the names it would have replaced", async () => {
      await store.set([{ account: "a", name: "Alice" }]);
      // The use cases never pass a null name; the column's NOT NULL is the adapters' last defence, and one
      // refusal must undo the entries before it in the batch, new and replaced alike.
      const batch = [
        { account: "a", name: "Mallory" },
        { account: "b", name: "Bob" },
        { account: "c", name: null as unknown as string },
        { account: "d", name: "Dave" },
      ];
      await expect(store.set(batch)).rejects.toThrow();
      expect(await store.get(["a", "b", "c", "d"])).toEqual(new Map([["a", "Alice"]]));
      await store.set([{ account: "b", name: "Bob" }]);
      expect(await store.get(["b"])).toEqual(new Map([["b", "Bob"]]));
    });

    it("lets concurrent batches that name the same accounts in opposite orders both finish", async () => {
      // Large enough that two batches taking row locks in the order given would meet in the middle and deadlock.
      const accounts = Array.from({ length: 5000 }, (_, i) => `acct-${i}`);
      await Promise.all(Array.from({ length: 4 }, () => store.get(["warm-up"])));
      await Promise.all([
        store.set(accounts.map((account) => ({ account, name: "forward" }))),
        store.set([...accounts].reverse().map((account) => ({ account, name: "backward" }))),
      ]);
      const found = await store.get(accounts);
      expect(found.size).toBe(accounts.length);
      // Each batch is one transaction, so one of them wins for every account.
      expect(new Set(found.values()).size).toBe(1);
    });

    it("accepts an empty batch as a no-op", async () => {
      await store.set([{ account: "a", name: "Alice" }]);
      await store.set([]);
      expect(await store.get(["a"])).toEqual(new Map([["a", "Alice"]]));
    });
  });

  describe("accounts and names compared exactly", () => {
    // Accounts are ids, compared as the bytes sent: no case folding, trimming or Unicode normalisation.
    const lookalikes: Petname[] = [
      { account: "AUTH_alice", name: "lower" },
      { account: "AUTH_Alice", name: "capital" },
      { account: "AUTH_ALICE", name: "upper" },
      { account: "AUTH_alice ", name: "trailing space" },
      { account: " AUTH_alice", name: "leading space" },
      { account: "caf\u00e9", name: "composed" },
      { account: "cafe\u0301", name: "decomposed" },
      { account: "a,b", name: "with a comma" },
      { account: "a", name: "just a" },
      { account: "b", name: "just b" },
      { account: 'q"uote\\d', name: "quote and backslash" },
      { account: "{x}", name: "braces" },
      { account: "NULL", name: "the word NULL" },
      { account: "\u{1F600}\u6237\u53E3", name: "emoji and CJK" },
    ];

    it("keeps accounts apart that differ only in case, spaces, normalisation or punctuation", async () => {
      await store.set(lookalikes);
      expect(await store.get(lookalikes.map((p) => p.account))).toEqual(
        new Map(lookalikes.map((p) => [p.account, p.name])),
      );
      for (const p of lookalikes) expect(await store.get([p.account])).toEqual(new Map([[p.account, p.name]]));
      expect(await store.get(["auth_alice", "AUTH_alice  ", "cafe", "a, b", "null", "AUTH_"])).toEqual(new Map());
    });

    it("removes exactly the account named", async () => {
      await store.set(lookalikes);
      expect(await store.remove("AUTH_alice ")).toBe(true);
      expect(await store.remove("auth_alice")).toBe(false);
      const left = await store.get(lookalikes.map((p) => p.account));
      expect(left.has("AUTH_alice ")).toBe(false);
      expect(left.size).toBe(lookalikes.length - 1);
      expect(left.get("AUTH_alice")).toBe("lower");
    });

    it("gives names back as they were stored", async () => {
      const names = ["Zo\u00eb's <Photos>", "  spaced  ", 'Bob "The Builder", Jr.', "\u{1F600}".repeat(100), "CASE"];
      await store.set(names.map((name, i) => ({ account: `n${i}`, name })));
      const found = await store.get(names.map((_, i) => `n${i}`));
      expect(names.map((_, i) => found.get(`n${i}`))).toEqual(names);
    });
  });

  describe("remove", () => {
    it("says whether there was a name, and leaves the others", async () => {
      await store.set([
        { account: "a", name: "Alice" },
        { account: "b", name: "Bob" },
      ]);
      expect(await store.remove("a")).toBe(true);
      expect(await store.remove("a")).toBe(false);
      expect(await store.remove("never")).toBe(false);
      expect(await store.get(["a", "b"])).toEqual(new Map([["b", "Bob"]]));
      await store.set([{ account: "a", name: "Alice again" }]);
      expect(await store.get(["a"])).toEqual(new Map([["a", "Alice again"]]));
    });
  });

  describe("invitations", () => {
    it("are accepted once: the petname is recorded for the account and the code is used up", async () => {
      await store.createInvitation(invitation("code-1", "Dana"));
      expect(await store.acceptInvitation(hashCode("code-1"), "acct-new", T0 + 10)).toEqual({
        account: "acct-new",
        name: "Dana",
      });
      expect(await store.get(["acct-new"])).toEqual(new Map([["acct-new", "Dana"]]));
      const again = await rejection(store.acceptInvitation(hashCode("code-1"), "acct-other", T0 + 20));
      expect(again.code).toBe("CONFLICT");
      expect(again.message).toMatch(/already been used/);
      // The same account again is refused too: a used code is used, whoever brings it.
      expect((await rejection(store.acceptInvitation(hashCode("code-1"), "acct-new", T0 + 30))).code).toBe("CONFLICT");
      expect(await store.get(["acct-new", "acct-other"])).toEqual(new Map([["acct-new", "Dana"]]));
    });

    it("answer NOT_FOUND for an unknown code, and for the code itself rather than its hash", async () => {
      await store.createInvitation(invitation("code-1", "Dana"));
      expect((await rejection(store.acceptInvitation(hashCode("code-2"), "x", T0))).code).toBe("NOT_FOUND");
      expect((await rejection(store.acceptInvitation("code-1", "x", T0))).code).toBe("NOT_FOUND");
      expect(await store.get(["x"])).toEqual(new Map());
      expect((await store.acceptInvitation(hashCode("code-1"), "y", T0)).name).toBe("Dana");
    });

    it("expire at their expiry time, refused as CONFLICT without naming the account or using the code", async () => {
      await store.createInvitation(invitation("late", "Late", T0 + 1000));
      await store.createInvitation(invitation("just", "Just in time", T0 + 1000));
      const expired = await rejection(store.acceptInvitation(hashCode("late"), "acct-late", T0 + 1000));
      expect(expired.code).toBe("CONFLICT");
      expect(expired.message).toMatch(/expired/);
      expect((await rejection(store.acceptInvitation(hashCode("late"), "acct-late", T0 + 5000))).code).toBe("CONFLICT");
      expect(await store.get(["acct-late"])).toEqual(new Map());
      expect(await store.acceptInvitation(hashCode("just"), "acct-just", T0 + 999)).toEqual({
        account: "acct-just",
        name: "Just in time",
      });
    });

    it("refuse a second invitation with the same code hash and keep the first", async () => {
      await store.createInvitation(invitation("code-1", "First"));
      await expect(store.createInvitation(invitation("code-1", "Second"))).rejects.toThrow();
      expect((await store.acceptInvitation(hashCode("code-1"), "acct-1", T0)).name).toBe("First");
    });

    it("are each accepted on their own: using one code leaves another with the same petname unused", async () => {
      await store.createInvitation(invitation("code-1", "Team"));
      await store.createInvitation(invitation("code-2", "Team"));
      await store.acceptInvitation(hashCode("code-1"), "acct-1", T0);
      expect(await store.acceptInvitation(hashCode("code-2"), "acct-2", T0)).toEqual({
        account: "acct-2",
        name: "Team",
      });
      expect(await store.get(["acct-1", "acct-2"])).toEqual(
        new Map([
          ["acct-1", "Team"],
          ["acct-2", "Team"],
        ]),
      );
    });

    it("let exactly one of several concurrent accepts of one code succeed", async () => {
      await store.createInvitation(invitation("race", "Racer"));
      await store.createInvitation(invitation("other", "Other"));
      // Concurrent reads first, so that a pooled adapter has a connection ready for every accept and they overlap.
      await Promise.all(Array.from({ length: 8 }, () => store.get(["warm-up"])));
      const accounts = ["acct-r0", "acct-r1", "acct-r2", "acct-r3", "acct-r4"];
      const outcomes = await Promise.all([
        ...accounts.map((account) =>
          store.acceptInvitation(hashCode("race"), account, T0).then(
            (p) => p.account,
            (error: unknown) => (error instanceof AppError ? error.code : String(error)),
          ),
        ),
        store.acceptInvitation(hashCode("other"), "acct-other", T0).then((p) => p.account),
      ]);
      const winners = outcomes.slice(0, accounts.length).filter((o) => accounts.includes(o));
      expect(winners).toHaveLength(1);
      expect(outcomes.filter((o) => o === "CONFLICT")).toHaveLength(accounts.length - 1);
      expect(outcomes.at(-1)).toBe("acct-other");
      const winner = winners[0] as string;
      expect(await store.get([...accounts, "acct-other"])).toEqual(
        new Map([
          [winner, "Racer"],
          ["acct-other", "Other"],
        ]),
      );
    });

    it("replace a name the account already has: the invitation's petname wins", async () => {
      await store.set([{ account: "acct-1", name: "Old name" }]);
      await store.createInvitation(invitation("code-1", "New name"));
      expect(await store.acceptInvitation(hashCode("code-1"), "acct-1", T0)).toEqual({
        account: "acct-1",
        name: "New name",
      });
      expect(await store.get(["acct-1"])).toEqual(new Map([["acct-1", "New name"]]));
    });
  });

  describe("invitations bound to an account", () => {
    const bound = (code: string, petname: string, account: string, expiresAt?: number): NewInvitation => ({
      ...invitation(code, petname, expiresAt),
      account,
    });

    it("are found open with their account, accepted for it only, and name it", async () => {
      await store.createInvitation(bound("bound", "Alice", "AUTH_alice"));
      await store.createInvitation(invitation("free", "Someone"));
      expect(await store.findOpenInvitation(hashCode("bound"), T0)).toEqual({
        account: "AUTH_alice",
        petname: "Alice",
        expiresAt: T0 + 60_000,
      });
      expect(await store.findOpenInvitation(hashCode("free"), T0)).toEqual({
        account: null,
        petname: "Someone",
        expiresAt: T0 + 60_000,
      });
      const other = await rejection(store.acceptInvitation(hashCode("bound"), "AUTH_mallory", T0));
      expect(other.code).toBe("CONFLICT");
      expect(other.message).toMatch(/bound to another account/);
      expect(await store.get(["AUTH_mallory", "AUTH_alice"])).toEqual(new Map());
      expect(await store.acceptInvitation(hashCode("bound"), "AUTH_alice", T0 + 1)).toEqual({
        account: "AUTH_alice",
        name: "Alice",
      });
      expect(await store.get(["AUTH_alice"])).toEqual(new Map([["AUTH_alice", "Alice"]]));
      expect((await rejection(store.findOpenInvitation(hashCode("bound"), T0 + 2))).code).toBe("CONFLICT");
    });

    it("keep an account id exactly as given, and leave its look-alikes unnamed", async () => {
      const account = "AUTH_Zo\u00eb's \u{1F600}";
      await store.createInvitation(bound("exact", "Zoe", account));
      expect((await store.findOpenInvitation(hashCode("exact"), T0)).account).toBe(account);
      expect((await store.acceptInvitation(hashCode("exact"), account, T0)).account).toBe(account);
      expect(await store.get([account, account.normalize("NFD"), account.toLowerCase()])).toEqual(
        new Map([[account, "Zoe"]]),
      );
    });

    it("are looked up without being used, and refused by the look-up as by an accept", async () => {
      await store.createInvitation(bound("code-1", "Dana", "AUTH_dana", T0 + 1000));
      await store.findOpenInvitation(hashCode("code-1"), T0);
      await store.findOpenInvitation(hashCode("code-1"), T0 + 999);
      expect(await store.get(["AUTH_dana"])).toEqual(new Map());
      expect((await rejection(store.findOpenInvitation(hashCode("nope"), T0))).code).toBe("NOT_FOUND");
      expect((await rejection(store.findOpenInvitation("code-1", T0))).code).toBe("NOT_FOUND");
      const expired = await rejection(store.findOpenInvitation(hashCode("code-1"), T0 + 1000));
      expect(expired.code).toBe("CONFLICT");
      expect(expired.message).toMatch(/expired/);
      expect((await store.acceptInvitation(hashCode("code-1"), "AUTH_dana", T0 + 10)).account).toBe("AUTH_dana");
      const used = await rejection(store.findOpenInvitation(hashCode("code-1"), T0 + 20));
      expect(used.code).toBe("CONFLICT");
      expect(used.message).toMatch(/already been used/);
    });

    it("let exactly one of two concurrent accepts for the bound account succeed", async () => {
      await store.createInvitation(bound("race", "Racer", "AUTH_racer"));
      await Promise.all(Array.from({ length: 4 }, () => store.get(["warm-up"])));
      const accept = () =>
        store.acceptInvitation(hashCode("race"), "AUTH_racer", T0).then(
          (p) => p.account,
          (error: unknown) => (error instanceof AppError ? error.code : String(error)),
        );
      expect((await Promise.all([accept(), accept()])).sort()).toEqual(["AUTH_racer", "CONFLICT"]);
      expect(await store.get(["AUTH_racer"])).toEqual(new Map([["AUTH_racer", "Racer"]]));
    });
  });
}
