// The charging commands for real: `tally policy check FILE` and offline `tally bill --policy --events`, which need
// no data directory.

import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Decimal } from "../../src/charging/decimal.js";
import { AQUARIUM } from "../../src/charging/test-policies.js";
import { freshStore, ndjson, removeDir, runTally, STORES, type TestStore, tempDir } from "./helpers.js";

const dir = tempDir("bill");
const stores: TestStore[] = [];
afterAll(async () => {
  removeDir(dir);
  for (const s of stores) await s.drop();
});
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

const POLICY = `${AQUARIUM}  - agreement:
    name: storage
    pricelist: disk
    creditplan: monthly
  - agreement:
    name: cheap
    pricelist: cheapdisk
    creditplan: monthly
creditplans:
  - creditplan:
    name: monthly
    credits: 10
    every: month
`
  .replace(
    "pricelists:\n",
    `pricelists:
  - pricelist:
    name: disk
    storage: 0.02
  - pricelist:
    name: cheapdisk
    overrides: disk
    storage: 0.01
`,
  )
  .replace(
    "resources:\n",
    "resources:\n  - resource:\n    name: storage\n    unit: GB-month\n    costpolicy: continuous\n    metric: storage.bytes\n",
  );

/** A storage.bytes reading of account A (or another). */
const bytes = (id: string, server: string, time: string, value: number | string, account = "A") => ({
  id,
  server,
  time,
  account,
  metric: "storage.bytes",
  value,
});

const offlineArgs = (policy: string, events: string, account: string, period: string) => [
  ...["bill", "--policy", policy, "--events", events],
  ...["--account", account, "--period", period],
];

describe("tally policy check", () => {
  it("accepts the Aquarium example and names the line and path of an error", async () => {
    const ok = await runTally(["policy", "check", file("ok.yaml", POLICY)]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid: 2 resources, 4 price lists, 1 algorithms, 1 credit plans, 3 agreements");
    const bad = await runTally([
      "policy",
      "check",
      file("bad.yaml", POLICY.replace("$price times $volume", "$price / $volume")),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^tally: policy line \d+, algorithms\[0\]\.bandwidthup: expression "\$price \/ \$volume" can divide by zero/,
    );
  });
});

describe("tally bill, offline", () => {
  const events = file(
    "e.ndjson",
    ndjson([
      bytes("1", "s1", "2026-10-20T00:00:00Z", 730_000_000_000),
      bytes("2", "s2", "2026-11-01T00:00:00Z", "730000000000"),
      bytes("3", "s1", "2026-11-01T00:00:00Z", 1, "B"),
    ]),
  );
  const policy = file("p.yaml", POLICY);
  const base = (period: string) => offlineArgs(policy, events, "A", period);
  const bill = (...extra: string[]) => runTally([...base("2026-11"), "--format", "json", ...extra]);

  it("prints the bill as JSON, every amount a decimal string", async () => {
    const out = await bill("--agreement", "storage");
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    const b = JSON.parse(out.stdout);
    // 730 GB on each of two servers for 720 hours of a 730-hour month: 1440 GB-month at 0.02.
    expect(b).toMatchObject({
      account: "A",
      agreement: "storage",
      period: { start: "2026-11-01T00:00:00.000Z", end: "2026-12-01T00:00:00.000Z" },
      lines: [{ resource: "storage", instance: "", quantity: "1440", unit: "GB-month", credits: "28.80" }],
      credits_granted: "10",
      total: "28.80",
      opening_balance: "0",
      closing_balance: "-18.80",
    });
    expect(b.lines[0].slices).toEqual([
      expect.objectContaining({ pricelist: "disk", price: "0.02", quantity: "1440", amount: "28.8" }),
    ]);
  });

  it("splits the line where the agreement changes, and starts from an opening balance", async () => {
    const out = await bill(
      "--agreement",
      "storage",
      "--agreement",
      "cheap@2026-11-16T00:00:00Z",
      "--opening-balance",
      "5.5",
    );
    expect(out.code).toBe(0);
    const b = JSON.parse(out.stdout);
    expect(b.lines[0].slices.map((s: { agreement: string; amount: string }) => [s.agreement, s.amount])).toEqual([
      ["storage", "14.4"],
      ["cheap", "7.2"],
    ]);
    expect(b).toMatchObject({ total: "21.60", credits_granted: "10", closing_balance: "-6.10" });
  });

  it("refuses bad events, an unknown agreement or period, naming them, and prints no bill", async () => {
    const bad = file(
      "bad.ndjson",
      `${ndjson([{ id: "1", server: "s1", time: "2026-11-01T00:00:00Z", account: "A", metric: "storage.bytes", value: -3 }])}{oops\n`,
    );
    const out = await runTally([
      "bill",
      "--policy",
      policy,
      "--events",
      bad,
      "--account",
      "A",
      "--agreement",
      "storage",
      "--period",
      "2026-11",
    ]);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe("");
    expect(out.stderr).toContain("2 events are not valid, so nothing was priced");
    expect(out.stderr).toContain("event 1 (id 1): value is negative");
    expect(out.stderr).toContain("line 2 is not valid JSON");
    const unknown = await bill("--agreement", "gold");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'agreement "gold" is not defined in the policy (it has: scaledbandwidth, storage, cheap)',
    );
    const period = await runTally([...base("November"), "--agreement", "storage"]);
    expect(period.stderr).toContain('period "November" is not a month like 2026-11');
  });
});

describe.each(STORES)("tally bill ACCOUNT from the %s store", (kind) => {
  it("gives the same bill as offline pricing of the same events, through policy load and agreement set", async () => {
    const store = await freshStore(kind);
    stores.push(store);
    const data = fs.mkdtempSync(path.join(dir, `data-${kind}-`));
    const args = ["--data", data, ...store.args];
    const policy = file(`stored-${kind}.yaml`, POLICY);
    const events = file(
      `stored-${kind}.ndjson`,
      ndjson([
        bytes("1", "s1", "2026-10-20T00:00:00Z", 730_000_000_000),
        bytes("2", "s1", "2026-11-10T07:30:00Z", 1_460_000_000_000),
        bytes("3", "s2", "2026-11-20T12:15:30Z", 365_000_000_000),
        // s3's only reading, inside an hour: held from there to the period's end.
        bytes("6", "s3", "2026-11-28T10:20:00Z", 100_000_000_000),
        { id: "4", server: "s2", time: "2026-11-25T00:00:00Z", account: "A", metric: "storage.bytes", value: 0 },
        { id: "5", server: "s1", time: "2026-12-03T00:00:00Z", account: "A", metric: "storage.bytes", value: 1 },
      ]),
    );
    expect((await runTally(["ingest", events, ...args])).code).toBe(0);
    const none = await runTally(["bill", "A", "--period", "2026-11", ...args]);
    expect(none.stderr).toContain("no policy is loaded");
    const loaded = await runTally(["policy", "load", policy, "--from", "2026-01-01T00:00:00Z", ...args]);
    expect(loaded.stdout).toBe("policy version 1 loaded, in effect from 2026-01-01T00:00:00.000Z\n");
    const unknown = await runTally(["agreement", "set", "A", "gold", "--from", "2026-01-01T00:00:00Z", ...args]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('agreement "gold" is not defined in the loaded policy');
    const set = await runTally(["agreement", "set", "A", "storage", "--from", "2026-01-01T00:00:00Z", ...args]);
    expect(set.code).toBe(0);
    const again = await runTally(["agreement", "set", "A", "cheap", "--from", "2025-12-01T00:00:00Z", ...args]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain("must start after the latest one");

    const stored = await runTally(["bill", "A", "--period", "2026-11", "--format", "json", ...args]);
    expect(stored.stderr).toBe("");
    const offline = await runTally([
      ...offlineArgs(policy, events, "A", "2026-11"),
      "--agreement",
      "storage",
      "--format",
      "json",
    ]);
    // A stored bill names the policy version of each slice; an offline one has no stored version.
    const storedBill = JSON.parse(stored.stdout);
    for (const line of storedBill.lines) {
      for (const slice of line.slices) {
        expect(slice.policy_version).toBe(1);
        delete slice.policy_version;
      }
    }
    expect(storedBill).toEqual(JSON.parse(offline.stdout));
    // GB-hours: s1 730 × 223.5 + 1460 × 496.5, s2 365 × 107.741666… (12:15:30 on the 20th to the 25th), s3
    // 100 × 61.666… = 933537.375; / 730 = 1278.818321… GB-month at 0.02 = 25.5763…
    expect(JSON.parse(stored.stdout).lines[0].credits).toBe("25.58");
    // --explain: the same bill, and its line traced to the same total.
    const explained = await runTally(["bill", "A", "--period", "2026-11", "--explain", "--format", "json", ...args]);
    expect(explained.stderr).toBe("");
    const x = JSON.parse(explained.stdout);
    expect(x).toMatchObject({ closed: false, policy_version: 1, total: "25.58", bill: JSON.parse(stored.stdout) });
    expect(x.lines[0]).toMatchObject({ resource: "storage", quantity: "1278.818321918", credits: "25.58" });
    const text = await runTally(["bill", "A", "--period", "2026-11", "--explain", ...args]);
    expect(text.stdout).toContain("policy version 1; how each line was priced:");
    expect(text.stdout).toContain("lines total 25.58\n");
  });

  it("closes a period into the ledger once, keeps its bill, and gives the balance without changing anything", async () => {
    const store = await freshStore(kind);
    stores.push(store);
    const data = fs.mkdtempSync(path.join(dir, `close-${kind}-`));
    const args = ["--data", data, ...store.args];
    const events = file(
      `close-${kind}.ndjson`,
      ndjson([bytes("1", "s1", "2026-10-20T00:00:00Z", 730_000_000_000), bytes("2", "s1", "2026-12-01T00:00:00Z", 0)]),
    );
    expect((await runTally(["ingest", events, ...args])).code).toBe(0);
    const policy = file(`close-${kind}.yaml`, POLICY);
    expect((await runTally(["policy", "load", policy, "--from", "2026-01-01T00:00:00Z", ...args])).code).toBe(0);
    expect((await runTally(["agreement", "set", "A", "storage", "--from", "2026-01-01T00:00:00Z", ...args])).code).toBe(
      0,
    );
    // 730 GB all November: 720 GB-month at 0.02 = 14.40, less the 10 granted.
    const closed = await runTally(["close", "A", "--period", "2026-11", ...args]);
    expect(closed.stderr).toBe("");
    expect(closed.stdout).toBe(
      "A 2026-11: closed, charges 14.40, closing balance -4.40 (2 entries written, 0 existing)\n",
    );
    const again = await runTally(["close", "A", "--period", "2026-11", ...args]);
    expect(again.stdout).toBe(
      "A 2026-11: already closed, charges 14.40, closing balance -4.40 (0 entries written, 2 existing)\n",
    );
    const open = await runTally(["close", "A", "--period", "2099-01", ...args]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain("period 2099-01 has not ended");
    const bill = JSON.parse((await runTally(["bill", "A", "--period", "2026-11", "--format", "json", ...args])).stdout);
    expect(bill).toMatchObject({ total: "14.40", opening_balance: "0", closing_balance: "-4.40" });
    // Late usage of November changes no closed bill; the open period carries it as an adjustment.
    const late = file(`late-${kind}.ndjson`, ndjson([bytes("3", "s2", "2026-11-16T00:00:00Z", 365_000_000_000)]));
    expect((await runTally(["ingest", late, ...args])).code).toBe(0);
    const after = JSON.parse(
      (await runTally(["bill", "A", "--period", "2026-11", "--format", "json", ...args])).stdout,
    );
    expect(after).toEqual(bill);
    const balance = await runTally(["balance", "A", "--format", "json", ...args]);
    expect(balance.stderr).toBe("");
    const b = JSON.parse(balance.stdout);
    // s2's 365 GB from the 16th: 360 hours = 180 GB-month = 3.60 for November, held on through the open period.
    expect(b).toMatchObject({ account: "A", closed_balance: "-4.40", closed_through: "2026-11", adjustments: "3.60" });
    // December so far: s2's 365 GB = 0.5 GB-month an hour, 0.01 an hour at 0.02.
    const hours = Math.floor((Date.parse(b.at) - Date.parse("2026-12-01T00:00:00Z")) / 3_600_000);
    expect(b.charges).toBe(Decimal.of(hours).mul(Decimal.parse("0.01")).toString());
    expect(b.balance).toBe(
      Decimal.parse("-4.40")
        .add(Decimal.parse(b.credits_granted))
        .sub(Decimal.parse(b.charges))
        .sub(Decimal.parse("3.60"))
        .toString(),
    );
    const twice = await runTally(["balance", "A", "--format", "json", ...args]);
    expect(JSON.parse(twice.stdout).closed_balance).toBe("-4.40");
    const ledger = await runTally(["close", "A", "--period", "2026-11", ...args]);
    expect(ledger.stdout).toContain("0 entries written, 2 existing");
  });
});
