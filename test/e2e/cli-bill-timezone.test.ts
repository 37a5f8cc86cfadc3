// A policy with a time zone through the real binary: offline bills by local months, whatever the host's zone, and
// a zone off whole hours refused by `tally policy check`.

import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ndjson, removeDir, runTally, tempDir } from "./helpers.js";

const dir = tempDir("bill-tz");
afterAll(() => removeDir(dir));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

const policy = (zone: string) => `timezone: ${zone}
resources:
  - {name: storage, unit: GB-month, costpolicy: continuous, metric: storage.bytes}
pricelists:
  - {name: disk, storage: 0.02}
agreements:
  - {name: std, pricelist: disk}
`;

describe("tally bill with a policy time zone", () => {
  const events = file(
    "e.ndjson",
    ndjson([
      { id: "1", server: "s1", account: "A", time: "2026-09-01T00:00:00Z", metric: "storage.bytes", value: 730e9 },
    ]),
  );
  const bill = (zone: string, hostZone: string) =>
    runTally(
      [
        ...["bill", "--policy", file(`${zone.replace("/", "-")}.yaml`, policy(zone)), "--events", events],
        ...["--account", "A", "--agreement", "std", "--period", "2026-10", "--format", "json"],
      ],
      { env: { TZ: hostZone } },
    );

  it("bills October in Berlin, 745 hours, the same on a host in any zone", async () => {
    for (const host of ["UTC", "Pacific/Auckland"]) {
      const out = await bill("Europe/Berlin", host);
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      // 730 GB for 745 hours of a 730-hour month: 745 GB-month at 0.02.
      expect(JSON.parse(out.stdout)).toMatchObject({
        period: { start: "2026-09-30T22:00:00.000Z", end: "2026-10-31T23:00:00.000Z" },
        lines: [{ quantity: "745", credits: "14.90" }],
        total: "14.90",
      });
    }
    expect(JSON.parse((await bill("UTC", "Europe/Berlin")).stdout)).toMatchObject({ total: "14.88" });
  });

  it("refuses a zone off whole hours, and an unknown one, with the line and path", async () => {
    const kolkata = await runTally(["policy", "check", file("kolkata.yaml", policy("Asia/Kolkata"))]);
    expect(kolkata.code).toBe(2);
    expect(kolkata.stderr).toContain("policy line 1, timezone: time zone Asia/Kolkata is +05:30 from UTC");
    const unknown = await runTally(["policy", "check", file("nowhere.yaml", policy("Europe/Atlantis"))]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('policy line 1, timezone: "Europe/Atlantis" is not a time zone this system knows');
  });
});
