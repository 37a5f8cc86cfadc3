// The charging commands for real: `tally policy check FILE` and offline `tally bill --policy --events`, which need
// no data directory.

import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AQUARIUM } from "../../src/charging/test-policies.js";
import { ndjson, removeDir, runTally, tempDir } from "./helpers.js";

const dir = tempDir("bill");
afterAll(() => removeDir(dir));
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
      {
        id: "1",
        server: "s1",
        time: "2026-10-20T00:00:00Z",
        account: "A",
        metric: "storage.bytes",
        value: 730_000_000_000,
      },
      {
        id: "2",
        server: "s2",
        time: "2026-11-01T00:00:00Z",
        account: "A",
        metric: "storage.bytes",
        value: "730000000000",
      },
      { id: "3", server: "s1", time: "2026-11-01T00:00:00Z", account: "B", metric: "storage.bytes", value: 1 },
    ]),
  );
  const policy = file("p.yaml", POLICY);
  const base = (period: string) => [
    "bill",
    "--policy",
    policy,
    "--events",
    events,
    "--account",
    "A",
    "--period",
    period,
  ];
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
