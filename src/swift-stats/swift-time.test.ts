import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSwiftTime, parseSwiftTime } from "./swift-time.js";

describe("formatSwiftTime", () => {
  it("writes any time of years 0 to 9999 as its ISO form to the second, with a space, whatever came before", () => {
    const anyTime = fc.integer({
      min: Date.parse("0000-01-01T00:00:00Z"),
      max: Date.parse("9999-12-31T23:59:59.999Z"),
    });
    fc.assert(
      fc.property(fc.array(anyTime, { minLength: 1, maxLength: 5 }), (times) => {
        for (const t of times) {
          expect(formatSwiftTime(t)).toBe(new Date(t).toISOString().slice(0, 19).replace("T", " "));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("reads back what it writes, to the second", () => {
    const time = Date.UTC(2012, 9, 22, 8, 5, 9, 750);
    expect(formatSwiftTime(time)).toBe("2012-10-22 08:05:09");
    expect(parseSwiftTime(formatSwiftTime(time))).toBe(time - 750);
  });
});
