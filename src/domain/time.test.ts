import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOUR_MS, hourOf, isoTime, parseEventTime } from "./time.js";

const MAX_TIME = 253_402_300_799_999;

describe("parseEventTime: RFC 3339", () => {
  it.each([
    ["2026-11-23T12:00:00Z", Date.UTC(2026, 10, 23, 12)],
    ["2026-11-23t12:00:00z", Date.UTC(2026, 10, 23, 12)],
    ["2026-11-23 12:00:00Z", Date.UTC(2026, 10, 23, 12)],
    ["2026-11-23T12:00:00+05:30", Date.UTC(2026, 10, 23, 6, 30)],
    ["2026-11-23T12:00:00-00:30", Date.UTC(2026, 10, 23, 12, 30)],
    ["2026-11-23T12:00:00+23:59", Date.UTC(2026, 10, 22, 12, 1)],
    ["2026-11-23T12:00:00.5Z", Date.UTC(2026, 10, 23, 12, 0, 0, 500)],
    ["2026-11-23T12:00:00.123Z", Date.UTC(2026, 10, 23, 12, 0, 0, 123)],
    // Digits beyond milliseconds are dropped, never rounded up into the next millisecond.
    ["2026-11-23T12:00:00.123999999Z", Date.UTC(2026, 10, 23, 12, 0, 0, 123)],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
    ["2000-02-29T00:00:00Z", Date.UTC(2000, 1, 29)],
    ["1970-01-01T00:00:00Z", 0],
    ["9999-12-31T23:59:59.999Z", MAX_TIME],
  ])("%s is %d", (text, ms) => {
    expect(parseEventTime(text)).toBe(ms);
  });

  it.each([
    "yesterday",
    "",
    "2026-11-23",
    "2026-11-23T12:00:00",
    "2026-11-23T12:00Z",
    "2026-1-23T12:00:00Z",
    "2026-11-23T12:00:00.Z",
    "2026-11-23T12:00:00.1234567890Z",
    "2026-11-23T12:00:00+0530",
    "2026-11-23T12:00:00 Z",
    " 2026-11-23T12:00:00Z",
    "2026-11-23T12:00:00Z ",
    "+2026-11-23T12:00:00Z",
    "Mon, 23 Nov 2026 12:00:00 GMT",
    "1795435200000",
  ])("%j is not RFC 3339", (text) => {
    expect(parseEventTime(text)).toBe(`"${text}" is not an RFC 3339 time (like 2026-11-23T12:00:00Z)`);
  });

  it.each([
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-11-00T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-11-23T24:00:00Z",
    "2026-11-23T12:60:00Z",
    "2016-12-31T23:59:60Z",
    "2026-11-23T12:00:00+24:00",
    "2026-11-23T12:00:00-05:60",
  ])("%s is not a valid calendar time", (text) => {
    expect(parseEventTime(text)).toBe(`"${text}" is not a valid calendar time`);
  });

  it.each(["1969-12-31T23:59:59.999Z", "1970-01-01T00:00:00+00:01", "9999-12-31T23:59:59.999-00:01"])(
    "%s is out of range",
    (text) => {
      expect(parseEventTime(text)).toBe(`"${text}" is out of range (1970 to 9999)`);
    },
  );

  it("quotes at most 40 characters of a long bad string", () => {
    const reason = parseEventTime(`2026-11-23T12:00:00Z${"x".repeat(1000)}`) as string;
    expect(reason).toBe(`"2026-11-23T12:00:00Z${"x".repeat(20)}" is not an RFC 3339 time (like 2026-11-23T12:00:00Z)`);
  });
});

describe("parseEventTime: epoch milliseconds", () => {
  it.each([0, 1, 1_795_435_200_000, MAX_TIME])("%d is itself", (ms) => {
    expect(parseEventTime(ms)).toBe(ms);
  });

  it.each([
    [1.5, "is 1.5: epoch milliseconds must be an integer"],
    [Number.NaN, "is NaN: epoch milliseconds must be an integer"],
    [Number.POSITIVE_INFINITY, "is Infinity: epoch milliseconds must be an integer"],
    [-1, "is -1: epoch milliseconds out of range (1970 to 9999)"],
    [MAX_TIME + 1, `is ${MAX_TIME + 1}: epoch milliseconds out of range (1970 to 9999)`],
  ])("%d is refused", (ms, reason) => {
    expect(parseEventTime(ms)).toBe(reason);
  });

  it.each([true, null, undefined, {}, [], 10n])("%s is neither", (raw) => {
    expect(parseEventTime(raw)).toBe("must be an RFC 3339 string or epoch milliseconds");
  });

  it("an ISO string of any accepted time parses back to the same milliseconds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME }), (ms) => {
        expect(parseEventTime(isoTime(ms))).toBe(ms);
      }),
    );
  });

  it("reads the Z form, digit by digit, as it reads the same time written +00:00", () => {
    // Strings of the canonical shape with characters swapped for others, valid or not, at every position.
    const chars = fc.constantFrom(..."0123456789-T:Z.x ");
    const shaped = fc
      .tuple(
        fc.integer({ min: 0, max: MAX_TIME }),
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(23), chars), { maxLength: 3 }),
      )
      .map(([ms, millis, swaps]) => {
        const chars = [...(millis ? isoTime(ms) : isoTime(ms).replace(/\.\d{3}/, ""))];
        for (const [at, c] of swaps) if (at < chars.length - 1) chars[at] = c;
        return chars.join("");
      });
    fc.assert(
      fc.property(shaped, (text) => {
        const z = parseEventTime(text);
        const offset = text.endsWith("Z") ? parseEventTime(`${text.slice(0, -1)}+00:00`) : z;
        expect(typeof z).toBe(typeof offset);
        if (typeof z === "number") expect(z).toBe(offset);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("hourOf", () => {
  it("is the start of the UTC hour", () => {
    expect(hourOf(0)).toBe(0);
    expect(hourOf(HOUR_MS - 1)).toBe(0);
    expect(hourOf(HOUR_MS)).toBe(HOUR_MS);
    expect(hourOf(Date.UTC(2026, 10, 23, 12, 59, 59, 999))).toBe(Date.UTC(2026, 10, 23, 12));
  });

  it("holds the time and is a multiple of an hour, for every accepted time", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME }), (ms) => {
        const hour = hourOf(ms);
        expect(hour % HOUR_MS).toBe(0);
        expect(hour <= ms && ms < hour + HOUR_MS).toBe(true);
      }),
    );
  });
});
