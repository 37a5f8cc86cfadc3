import { describe, expect, it } from "vitest";
import { parseUnit } from "./units.js";

const MONTH = 730n * 3_600_000n;

describe("units", () => {
  it("converts byte multiples exactly, powers of 1000 and 1024", () => {
    expect(parseUnit("B", MONTH).size).toBe(1n);
    expect(parseUnit("KB", MONTH).size).toBe(1000n);
    expect(parseUnit("TB", MONTH).size).toBe(10n ** 12n);
    expect(parseUnit("KiB", MONTH).size).toBe(1024n);
    expect(parseUnit("TiB", MONTH).size).toBe(1024n ** 4n);
    expect(parseUnit("GB", MONTH)).toMatchObject({ measure: "bytes", timed: false });
  });
  it("converts times and products, with the policy's month", () => {
    expect(parseUnit("hour", MONTH)).toMatchObject({ size: 3_600_000n, measure: null, timed: true });
    expect(parseUnit("day", MONTH).size).toBe(86_400_000n);
    expect(parseUnit("GB-hour", MONTH).size).toBe(10n ** 9n * 3_600_000n);
    expect(parseUnit("GiB-month", MONTH).size).toBe(1024n ** 3n * MONTH);
    expect(parseUnit("GiB-month", 30n * 86_400_000n).size).toBe(1024n ** 3n * 30n * 86_400_000n);
    expect(parseUnit("MB/hr", MONTH)).toMatchObject({ size: 10n ** 6n * 3_600_000n, measure: "bytes", timed: true });
    expect(parseUnit("request", MONTH)).toMatchObject({ size: 1n, measure: "count", timed: false });
    expect(parseUnit("file-day", MONTH)).toMatchObject({ size: 86_400_000n, measure: "count", timed: true });
  });
  it("refuses what it cannot price, naming it", () => {
    for (const bad of ["GBB", "GB-TB", "hour-day", "", "GB-hour-x", "constructor"]) {
      expect(() => parseUnit(bad, MONTH)).toThrow(`unit "${bad}"`);
    }
  });
});
