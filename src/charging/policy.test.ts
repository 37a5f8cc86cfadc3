import { describe, expect, it } from "vitest";
import { chain, parsePolicy } from "./policy.js";
import { AQUARIUM } from "./test-policies.js";
import { UTC } from "./zone.js";

describe("policy documents", () => {
  it("loads the Aquarium paper's form unchanged", () => {
    const p = parsePolicy(AQUARIUM);
    const bw = p.resources.get("bandwidthup");
    expect(bw).toMatchObject({ costpolicy: "continuous", complex: false, metric: "bandwidthup" });
    expect(bw?.unit.size).toBe(10n ** 6n * 3_600_000n);
    expect(p.pricelists.get("everyTue2")?.effective.from).toBe(1_326_041_177_000);
    expect(p.pricelists.get("everyTue2")?.prices.get("bandwidthup")?.toString()).toBe("0.1");
    expect(p.pricelists.get("everyTue2")?.effective.repeat[0]?.start.text).toBe("00 02 * * Tue");
    expect(chain(p.pricelists, "everyTue2").map((l) => l.name)).toEqual(["everyTue2", "default"]);
    expect(p.algorithms.get("default")?.expressions.get("bandwidthup")?.source).toBe("$price times $volume");
    expect(p.agreements.get("scaledbandwidth")).toEqual({
      name: "scaledbandwidth",
      pricelist: "everyTue2",
      algorithm: "default",
      creditplan: null,
    });
    expect(p.billing).toEqual({ zone: UTC, period: "month", startDay: 1 });
    expect(p.rounding).toEqual({ digits: 2, mode: "half-even" });
  });

  it("reads nested items, milliseconds, RFC 3339 times, credit plans, agreements that override and inline lists", () => {
    const p = parsePolicy(`
month_hours: 720
rounding: {digits: 4, mode: half-up}
billing: {period: month, start_day: 3}
resources:
  - resource: {name: disk, unit: GiB-month, costpolicy: continuous, metric: storage.bytes, complex: true}
  - name: vm
    unit: hour
    costpolicy: onoff
    metric: vm.on
pricelists:
  - name: base
    disk: 0.02
    vm: "0.5"
    effective: {from: 1700000000000, to: "2030-01-01T00:00:00Z"}
creditplans:
  - name: monthly
    credits: 100
    every: month
    at: start
agreements:
  - name: std
    pricelist: base
    creditplan: monthly
  - name: gold
    overrides: std
    pricelist:
      overrides: base
      disk: 0.01
default_agreement: std
`);
    expect(p.monthMs).toBe(720n * 3_600_000n);
    expect(p.pricelists.get("base")?.effective).toMatchObject({
      from: 1_700_000_000_000,
      to: Date.parse("2030-01-01T00:00:00Z"),
    });
    expect(p.agreements.get("gold")).toEqual({
      name: "gold",
      pricelist: "gold/pricelist",
      algorithm: null,
      creditplan: "monthly",
    });
    expect(chain(p.pricelists, "gold/pricelist").map((l) => l.prices.get("disk")?.toString())).toEqual([
      "0.01",
      "0.02",
    ]);
    expect(p.creditplans.get("monthly")?.credits.toString()).toBe("100");
    expect(p.defaultAgreement).toBe("std");
    expect(p.billing).toEqual({ zone: UTC, period: "month", startDay: 3 });
  });

  const bad: [string, string][] = [
    ["resources: [", "policy line 1"],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: continuous\n",
      'policy line 3, resources[0].unit: unit "GB" does not fit costpolicy continuous',
    ],
    [
      "resources:\n  - name: x\n    unit: GBB\n    costpolicy: discrete\n",
      'policy line 3, resources[0].unit: unit "GBB"',
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: sometimes\n",
      "policy line 4, resources[0].costpolicy: must be one of",
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: discrete\n    colour: red\n",
      'policy line 5, resources[0].colour: unknown key "colour"',
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: discrete\npricelists:\n  - name: p\n    y: 1\n",
      'policy line 7, pricelists[0].y: "y" is not a resource',
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: discrete\npricelists:\n  - name: p\n    x: 1e3\n",
      'policy line 7, pricelists[0].x: value "1e3" is not a decimal number',
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: discrete\nalgorithms:\n  - name: a\n    x: price / volume\n",
      'policy line 7, algorithms[0].x: expression "price / volume" can divide by zero',
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: discrete\nalgorithms:\n  - name: a\n    x: price times qty\n",
      'policy line 7, algorithms[0].x: expression "price times qty": unknown name "qty"',
    ],
    [
      "resources:\n  - name: x\n    unit: GB\n    costpolicy: discrete\nalgorithms:\n  - name: a\n    x: price times\n",
      'policy line 7, algorithms[0].x: expression "price times": unexpected end',
    ],
    [
      'pricelists:\n  - name: p\n    effective:\n      repeat:\n        - start: "00 25 * * *"\n          end: "0 1 * * *"\n',
      'policy line 5, pricelists[0].effective.repeat[0].start: cron "00 25 * * *": hour "25"',
    ],
    [
      "pricelists:\n  - name: p\n    effective: {from: 10, to: 5}\n",
      "policy line 3, pricelists[0].effective.to: must be after from",
    ],
    ["pricelists:\n  - name: p\n    overrides: q\n", 'pricelist "p" overrides "q", which is not defined'],
    ["pricelists:\n  - name: p\n    overrides: q\n  - name: q\n    overrides: p\n", "overrides in a circle"],
    [
      "agreements:\n  - name: a\n    pricelist: nope\n",
      'policy line 3, agreements[0].pricelist: pricelist "nope" is not defined',
    ],
    ["pricelists:\n  - name: p\n  - name: p\n", 'policy line 3, pricelists[1]: pricelist "p" is defined twice'],
    [
      "version: 1\ntimezone: Europe/Nowhere\n",
      'policy line 2, timezone: "Europe/Nowhere" is not a time zone this system knows',
    ],
    [
      "timezone: Asia/Kolkata\n",
      "policy line 1, timezone: time zone Asia/Kolkata is +05:30 from UTC on 1970-01-01: usage is kept in whole UTC hours",
    ],
    ["timezone: America/Caracas\n", "time zone America/Caracas is -04:30 from UTC on 2007-12-"],
    ["timezone: [UTC]\n", "policy line 1, timezone: must be a single value"],
    [
      "billing: {period: weeks, weeks: 1, anchor: 2026-02-30}\n",
      'policy line 1, billing.anchor: time "2026-02-30" is not a valid local date and time',
    ],
    ["colour: red\n", 'unknown section "colour"'],
    ["a: 1\na: 2\n", "policy line 2: Map keys must be unique"],
    ["default_agreement: none\n", 'agreement "none" is not defined'],
    [
      "resources:\n  - resource:\n      name: x\n    unit: GB\n",
      '"resource:" holds the item\'s keys, or sits beside them, not both',
    ],
  ];
  it.each(bad)("rejects %j with the line and path", (text, message) => {
    expect(() => parsePolicy(text)).toThrow(message);
  });
});
