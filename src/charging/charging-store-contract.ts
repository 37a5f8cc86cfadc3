// The shared suite every ChargingStore adapter runs (SQLite and PostgreSQL).

import { afterEach, expect, it } from "vitest";
import { agreementSpans, type ChargingStore, type LedgerEntry } from "./charging-store.js";

export interface OpenedChargingStore {
  readonly charging: ChargingStore;
  close(): Promise<void>;
}

export function describeChargingStoreContract(open: () => Promise<OpenedChargingStore>): void {
  const opened: OpenedChargingStore[] = [];
  const fresh = async () => {
    const o = await open();
    opened.push(o);
    return o.charging;
  };
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.close();
  });

  it("keeps policy versions, each from a later time, never rewriting the past", async () => {
    const store = await fresh();
    expect(await store.policyVersions()).toEqual([]);
    expect(await store.addPolicyVersion("a: 1\n", 1000, 5)).toEqual({
      version: 1,
      from: 1000,
      text: "a: 1\n",
      loadedAt: 5,
    });
    expect(await store.addPolicyVersion("a: 2\n", 2000, 6)).toMatchObject({ version: 2 });
    await expect(store.addPolicyVersion("a: 3\n", 2000, 7)).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(store.addPolicyVersion("a: 3\n", 1500, 7)).rejects.toThrow("must start after the latest one");
    expect((await store.policyVersions()).map((v) => [v.version, v.from, v.text])).toEqual([
      [1, 1000, "a: 1\n"],
      [2, 2000, "a: 2\n"],
    ]);
  });

  it("holds agreements over ranges that never overlap, per account and per group", async () => {
    const store = await fresh();
    await store.setAgreement({ subject: "acct", kind: "account", name: "std", from: 0 });
    await store.setAgreement({ subject: "acct", kind: "account", name: "gold", from: 5000 });
    await store.setAgreement({ subject: "acct", kind: "group", name: "team", from: 100 });
    await expect(store.setAgreement({ subject: "acct", kind: "account", name: "x", from: 5000 })).rejects.toMatchObject(
      {
        code: "CONFLICT",
      },
    );
    await expect(store.setAgreement({ subject: "acct", kind: "account", name: "x", from: 10 })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    const mine = await store.agreements("acct", "account");
    expect(agreementSpans(mine)).toEqual([
      { name: "std", from: 0, to: 5000, source: "account" },
      { name: "gold", from: 5000, to: null, source: "account" },
    ]);
    expect(await store.agreements("acct", "group")).toEqual([
      { subject: "acct", kind: "group", name: "team", from: 100 },
    ]);
    expect(await store.agreements("other", "account")).toEqual([]);
  });

  it("holds an account's group over ranges that never overlap; null leaves the group", async () => {
    const store = await fresh();
    expect(await store.memberships("acct")).toEqual([]);
    await store.setMembership({ account: "acct", group: "team", from: 1000 });
    await store.setMembership({ account: "acct", group: null, from: 2000 });
    await store.setMembership({ account: "acct", group: "lab", from: 3000 });
    await store.setMembership({ account: "other", group: "team", from: 10 });
    await expect(store.setMembership({ account: "acct", group: "x", from: 3000 })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("a group membership of account acct from 1970-01-01T00:00:03.000Z must start"),
    });
    await expect(store.setMembership({ account: "acct", group: "x", from: 1500 })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    expect(await store.memberships("acct")).toEqual([
      { account: "acct", group: "team", from: 1000 },
      { account: "acct", group: null, from: 2000 },
      { account: "acct", group: "lab", from: 3000 },
    ]);
    expect(await store.memberships("nobody")).toEqual([]);
  });

  const entry = (key: string, amount = "10.50", account = "acct"): LedgerEntry => ({
    key,
    account,
    kind: "grant",
    period: "2026-11",
    amount,
    at: 1_793_491_200_000,
    note: "monthly",
  });

  it("appends ledger entries once per key: replaying writes nothing new", async () => {
    const store = await fresh();
    expect(await store.appendLedger([entry("g1"), entry("g2", "-3")])).toEqual({ written: 2, existing: 0 });
    expect(await store.appendLedger([entry("g1"), entry("g2", "-3"), entry("g3", "0.001")])).toEqual({
      written: 1,
      existing: 2,
    });
    expect(await store.appendLedger([entry("g4"), entry("g4")])).toEqual({ written: 1, existing: 1 });
    expect((await store.ledger("acct")).map((e) => [e.key, e.amount])).toEqual([
      ["g1", "10.50"],
      ["g2", "-3"],
      ["g3", "0.001"],
      ["g4", "10.50"],
    ]);
    expect(await store.ledger("acct")).toContainEqual(entry("g1"));
  });

  it("refuses a key written with other contents, or a bad amount, and writes nothing of the batch", async () => {
    const store = await fresh();
    await store.appendLedger([entry("g1")]);
    await expect(store.appendLedger([entry("new"), entry("g1", "11")])).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("ledger entry g1 is already written with other contents"),
    });
    await expect(store.appendLedger([entry("new2"), entry("bad", "1e3")])).rejects.toMatchObject({
      code: "VALIDATION",
    });
    expect((await store.ledger("acct")).map((e) => e.key)).toEqual(["g1"]);
    expect(await store.ledger("other")).toEqual([]);
  });

  it("appends several batches in one transaction, counting each; a conflict in one writes none of them", async () => {
    const store = await fresh();
    await store.appendLedger([entry("a1", "1", "A")]);
    expect(
      await store.appendLedgers([
        [entry("a1", "1", "A"), entry("a2", "2.50", "A")],
        [],
        [entry("b1", "-1", "B"), entry("b1", "-1", "B")],
      ]),
    ).toEqual([
      { written: 1, existing: 1 },
      { written: 0, existing: 0 },
      { written: 1, existing: 1 },
    ]);
    await expect(store.appendLedgers([[entry("c1", "1", "C")], [entry("a2", "9", "A")]])).rejects.toMatchObject({
      code: "CONFLICT",
    });
    await expect(store.appendLedgers([[entry("c1", "1", "C")], [entry("bad", "x", "C")]])).rejects.toMatchObject({
      code: "VALIDATION",
    });
    expect(await store.ledger("C")).toEqual([]);
    expect((await store.ledger("A")).map((e) => [e.key, e.amount])).toEqual([
      ["a1", "1"],
      ["a2", "2.50"],
    ]);
    expect((await store.ledger("B")).map((e) => e.key)).toEqual(["b1"]);
    expect(await store.appendLedgers([])).toEqual([]);
  });

  it("reads several subjects' agreements, memberships and ledgers at once as it reads each alone", async () => {
    const store = await fresh();
    await store.setAgreement({ subject: "B", kind: "account", name: "gold", from: 5000 });
    await store.setAgreement({ subject: "A", kind: "account", name: "std", from: 0 });
    await store.setAgreement({ subject: "A", kind: "account", name: "gold", from: 9000 });
    await store.setAgreement({ subject: "team", kind: "group", name: "std", from: 0 });
    await store.setMembership({ account: "B", group: "team", from: 10 });
    await store.setMembership({ account: "B", group: null, from: 20 });
    await store.setMembership({ account: "A", group: "team", from: 30 });
    await store.appendLedger([entry("b1", "1", "B"), entry("a1", "2", "A"), entry("b2", "3", "B")]);
    // B asked twice: its rows come once.
    const asked = ["B", "nobody", "A", "team", "B"];
    const agreements = await store.agreementsOf(asked, "account");
    const groups = await store.agreementsOf(asked, "group");
    const memberships = await store.membershipsOf(asked);
    const ledgers = await store.ledgers(asked);
    for (const maps of [agreements, groups, memberships, ledgers]) expect([...maps.keys()]).toEqual(asked.slice(0, 4));
    for (const s of asked) {
      expect(agreements.get(s)).toEqual(await store.agreements(s, "account"));
      expect(groups.get(s)).toEqual(await store.agreements(s, "group"));
      expect(memberships.get(s)).toEqual(await store.memberships(s));
      expect(ledgers.get(s)).toEqual(await store.ledger(s));
    }
    expect(agreements.get("A")?.map((a) => a.name)).toEqual(["std", "gold"]);
    expect(groups.get("team")?.map((a) => a.name)).toEqual(["std"]);
    expect(memberships.get("B")?.map((m) => m.group)).toEqual(["team", null]);
    expect(ledgers.get("B")?.map((e) => e.key)).toEqual(["b1", "b2"]);
    expect(ledgers.get("nobody")).toEqual([]);
    expect(await store.ledgers([])).toEqual(new Map());
  });
}
