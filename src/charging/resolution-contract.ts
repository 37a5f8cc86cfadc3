// Which agreement and which policy version price each hour, on a real backend, the same on SQLite and PostgreSQL:
// an account's own agreement, else its group's at that hour, else the default; and versions starting mid-period.

import { afterEach, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { event } from "../store/contract-events.js";
import { accountBalance, billAccount } from "./billing-run.js";
import { accountGroup, loadPolicy, setAgreement, setGroup } from "./charge-account.js";
import { explainBill } from "./explain.js";

/** Four agreements a GB-month apart in price: half 0.01, std 0.02 (the default), quad 0.04. */
export const GROUP_POLICY = `resources:
  - {name: storage, unit: GB-month, costpolicy: continuous, metric: storage.bytes}
pricelists:
  - {name: disk, storage: 0.02}
  - {name: halfdisk, storage: 0.01}
  - {name: quaddisk, storage: 0.04}
agreements:
  - {name: std, pricelist: disk}
  - {name: half, pricelist: halfdisk}
  - {name: quad, pricelist: quaddisk}
default_agreement: std
`;

const GB = 1_000_000_000n;
const at = (iso: string) => Date.parse(iso);

export function describeResolutionContract(open: () => Promise<Backend>): void {
  const opened: Backend[] = [];
  /** Account A holds 730 GB from October 31st: a GB-month is 730 GB-hours, so each hour of November is 1 GB-month. */
  const fresh = async (policy = GROUP_POLICY) => {
    const b = await open();
    opened.push(b);
    await loadPolicy(b.charging, policy, 0, 0);
    await b.events.insertEvents([
      event({
        id: "1",
        server: "s1",
        account: "A",
        time: at("2026-10-31T00:00:00Z"),
        metric: "storage.bytes",
        kind: "level",
        value: 730n * GB,
      }),
    ]);
    return b;
  };
  afterEach(async () => {
    for (const b of opened.splice(0)) await b.close();
  });
  const slices = async (b: Backend) =>
    (await billAccount(b.charging, b.usage, "A", "2026-11")).lines[0]?.slices.map((s) => [
      s.start,
      s.agreement,
      s.quantity,
      s.amount,
    ]);

  it("an account moving between groups mid-period is priced by each group's agreement, then the default", async () => {
    const b = await fresh();
    await setAgreement(b.charging, "team", "half", 0, "group");
    await setAgreement(b.charging, "lab", "quad", 0, "group");
    await setGroup(b.charging, "A", "team", 0);
    await setGroup(b.charging, "A", "lab", at("2026-11-16T00:00:00Z"));
    await setGroup(b.charging, "A", null, at("2026-11-26T00:00:00Z"));
    const bill = await billAccount(b.charging, b.usage, "A", "2026-11");
    // 360 h at 0.01 in team, 240 h at 0.04 in lab, 120 h at 0.02 by default: 3.60 + 9.60 + 2.40.
    expect(bill.total).toBe("15.60");
    expect(bill.agreements).toEqual([
      {
        name: "half",
        source: "group",
        group: "team",
        start: "2026-11-01T00:00:00.000Z",
        end: "2026-11-16T00:00:00.000Z",
      },
      {
        name: "quad",
        source: "group",
        group: "lab",
        start: "2026-11-16T00:00:00.000Z",
        end: "2026-11-26T00:00:00.000Z",
      },
      { name: "std", source: "default", start: "2026-11-26T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" },
    ]);
    expect(await slices(b)).toEqual([
      ["2026-11-01T00:00:00.000Z", "half", "360", "3.6"],
      ["2026-11-16T00:00:00.000Z", "quad", "240", "9.6"],
      ["2026-11-26T00:00:00.000Z", "std", "120", "2.4"],
    ]);
    expect(await accountGroup(b.charging, "A", at("2026-11-20T00:00:00Z"))).toEqual({
      account: "A",
      group: "lab",
      memberships: [
        { group: "team", from: "1970-01-01T00:00:00.000Z", to: "2026-11-16T00:00:00.000Z" },
        { group: "lab", from: "2026-11-16T00:00:00.000Z", to: "2026-11-26T00:00:00.000Z" },
        { group: null, from: "2026-11-26T00:00:00.000Z", to: null },
      ],
    });
  });

  it("a group's agreement changing mid-period changes its members' price from then on", async () => {
    const b = await fresh();
    await setAgreement(b.charging, "team", "half", 0, "group");
    await setAgreement(b.charging, "team", "std", at("2026-11-11T00:00:00Z"), "group");
    await setGroup(b.charging, "A", "team", 0);
    // 240 h at 0.01, then 480 h at 0.02.
    expect(await slices(b)).toEqual([
      ["2026-11-01T00:00:00.000Z", "half", "240", "2.4"],
      ["2026-11-11T00:00:00.000Z", "std", "480", "9.6"],
    ]);
    expect((await billAccount(b.charging, b.usage, "A", "2026-11")).total).toBe("12.00");
  });

  it("the account's own agreement wins over its group's while it holds one", async () => {
    const b = await fresh();
    await setAgreement(b.charging, "team", "half", 0, "group");
    await setGroup(b.charging, "A", "team", 0);
    await setAgreement(b.charging, "A", "quad", at("2026-11-21T00:00:00Z"));
    const bill = await billAccount(b.charging, b.usage, "A", "2026-11");
    // 480 h at the group's 0.01, then 240 h at the account's own 0.04.
    expect(bill.total).toBe("14.40");
    expect(bill.agreements.map((a) => [a.name, a.source, a.group ?? null])).toEqual([
      ["half", "group", "team"],
      ["quad", "account", null],
    ]);
    expect(await slices(b)).toEqual([
      ["2026-11-01T00:00:00.000Z", "half", "480", "4.8"],
      ["2026-11-21T00:00:00.000Z", "quad", "240", "9.6"],
    ]);
  });

  it("a policy version starting inside a period prices the hours before it by the old version, after by the new", async () => {
    const b = await fresh();
    // Version 2 from 00:30 takes effect at 01:00, the next whole hour, and doubles std's price.
    await loadPolicy(
      b.charging,
      GROUP_POLICY.replace("disk, storage: 0.02", "disk, storage: 0.04"),
      at("2026-11-16T00:30:00Z"),
      0,
    );
    await b.events.insertEvents([
      event({
        id: "2",
        server: "s1",
        account: "A",
        time: at("2026-11-21T00:00:00Z"),
        metric: "storage.bytes",
        kind: "level",
        value: 1460n * GB,
      }),
    ]);
    const bill = await billAccount(b.charging, b.usage, "A", "2026-11");
    // 361 h at 0.02 = 7.22; then 119 h at 0.04 = 4.76 and 240 h of 2 GB-month at 0.04 = 19.20.
    expect(bill.lines[0]?.slices.map((s) => [s.start, s.end, s.policy_version, s.price, s.quantity, s.amount])).toEqual(
      [
        ["2026-11-01T00:00:00.000Z", "2026-11-16T01:00:00.000Z", 1, "0.02", "361", "7.22"],
        ["2026-11-16T01:00:00.000Z", "2026-12-01T00:00:00.000Z", 2, "0.04", "599", "23.96"],
      ],
    );
    expect(bill.lines[0]).toMatchObject({ quantity: "960", credits: "31.18" });
    expect(bill.total).toBe("31.18");
    // The explanation comes from the same run: each version's slice with its own price, the hours of both.
    const explained = await explainBill(b.charging, b.usage, "A", "2026-11");
    expect(explained).toMatchObject({ total: "31.18", policy_version: 1 });
    expect(explained.lines[0]?.slices.map((s) => [s.variables.price, s.result])).toEqual([
      ["0.02", "7.22"],
      ["0.04", "23.96"],
    ]);
    expect(explained.lines[0]?.slices.flatMap((s) => s.steps.map((t) => [t.hours, t.quantity_per_hour]))).toEqual([
      [361, "1"],
      [119, "1"],
      [240, "2"],
    ]);
    // The agreement is the same on both sides of the boundary: one span.
    expect(bill.agreements).toEqual([
      { name: "std", source: "default", start: "2026-11-01T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" },
    ]);
    // The balance so far: before the boundary by version 1 alone (216 h at 0.02); after it, 361 h at 0.02 and
    // 95 h at 0.04.
    expect(await accountBalance(b.charging, b.usage, "A", at("2026-11-10T00:00:00Z"))).toMatchObject({
      charges: "4.32",
    });
    expect(await accountBalance(b.charging, b.usage, "A", at("2026-11-20T00:00:00Z"))).toMatchObject({
      charges: "11.02",
    });
    // The period before is priced by version 1 alone.
    expect(
      (await billAccount(b.charging, b.usage, "A", "2026-10")).lines[0]?.slices.map((s) => s.policy_version),
    ).toEqual([1]);
  });

  it("refuses a bill where a new version changes a resource's unit inside the period", async () => {
    const b = await fresh();
    await loadPolicy(
      b.charging,
      GROUP_POLICY.replace("unit: GB-month", "unit: GB-hour"),
      at("2026-11-16T00:00:00Z"),
      0,
    );
    await expect(billAccount(b.charging, b.usage, "A", "2026-11")).rejects.toThrow(
      "resource storage is in GB-month before policy version 2 and in GB-hour from it, inside period 2026-11",
    );
    expect((await billAccount(b.charging, b.usage, "A", "2026-12")).lines[0]).toMatchObject({ unit: "GB-hour" });
  });

  it("refuses a version whose billing periods or time zone differ from the first's, storing nothing", async () => {
    const b = await fresh();
    for (const [text, rule] of [
      [`timezone: Europe/Berlin\n${GROUP_POLICY}`, "months from day 1 in Europe/Berlin"],
      [`billing: {period: month, start_day: 15}\n${GROUP_POLICY}`, "months from day 15 in UTC"],
    ] as const) {
      await expect(loadPolicy(b.charging, text, at("2026-12-01T00:00:00Z"), 0)).rejects.toThrow(
        `this version's billing periods (${rule}) differ from the first version's (months from day 1 in UTC)`,
      );
    }
    expect((await b.charging.policyVersions()).length).toBe(1);
  });

  it("refuses clearing the group of an account in none, and a membership before the latest, changing nothing", async () => {
    const b = await fresh();
    await expect(setGroup(b.charging, "A", null, 0)).rejects.toThrow(
      "account A is in no group at 1970-01-01T00:00:00.000Z: there is nothing to clear",
    );
    await setGroup(b.charging, "A", "team", at("2026-11-10T00:00:00Z"));
    await expect(setGroup(b.charging, "A", "lab", at("2026-11-01T00:00:00Z"))).rejects.toMatchObject({
      code: "CONFLICT",
    });
    expect(await b.charging.memberships("A")).toEqual([
      { account: "A", group: "team", from: at("2026-11-10T00:00:00Z") },
    ]);
  });
}
