import { describe, expect, it } from "vitest";
import { occurrences, openIntervals, parseCron } from "./cron.js";

const t = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString().replace(".000", "");

describe("cron", () => {
  it("fires where its fields say", () => {
    const tue = parseCron("00 02 * * Tue");
    expect(occurrences(tue, t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z")).map(iso)).toEqual([
      "2026-11-03T02:00:00Z",
      "2026-11-10T02:00:00Z",
      "2026-11-17T02:00:00Z",
      "2026-11-24T02:00:00Z",
    ]);
    expect(
      occurrences(parseCron("*/30 9-10 1,15 * *"), t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")).map(iso),
    ).toEqual(["2026-11-01T09:00:00Z", "2026-11-01T09:30:00Z", "2026-11-01T10:00:00Z", "2026-11-01T10:30:00Z"]);
    // Both day fields restricted: either matches (the 1st, and Sundays).
    expect(occurrences(parseCron("0 0 1 * 0"), t("2026-11-01T00:00:00Z"), t("2026-11-16T00:00:00Z")).map(iso)).toEqual([
      "2026-11-01T00:00:00Z",
      "2026-11-08T00:00:00Z",
      "2026-11-15T00:00:00Z",
    ]);
    expect(
      occurrences(parseCron("0 0 * Dec 7"), t("2026-12-01T00:00:00Z"), t("2026-12-10T00:00:00Z")).map(iso),
    ).toEqual(["2026-12-06T00:00:00Z"]);
  });
  it("refuses bad fields by name", () => {
    expect(() => parseCron("0 2 * *")).toThrow("five fields");
    expect(() => parseCron("0 24 * * *")).toThrow('hour "24" is not 0 to 23');
    expect(() => parseCron("0 2 * * Tuesdayx")).toThrow("day of week");
    expect(() => parseCron("0 2 * * Xyz")).toThrow("day of week");
    expect(() => parseCron("0 5-2 * * *")).toThrow("runs backwards");
    expect(() => parseCron("*/0 * * * *")).toThrow("step");
  });
  it("opens windows from start to the next end, carrying one open across the range's start", () => {
    const w = [{ start: parseCron("00 02 * * Tue"), end: parseCron("00 02 * * Wed") }];
    // 2026-11-04 is a Wednesday: the window opened on Tuesday the 3rd is open at the range's start.
    const got = openIntervals(w, t("2026-11-04T00:00:00Z"), t("2026-11-12T00:00:00Z"));
    expect(got.map(([a, b]) => [iso(a), iso(b)])).toEqual([
      ["2026-11-04T00:00:00Z", "2026-11-04T02:00:00Z"],
      ["2026-11-10T02:00:00Z", "2026-11-11T02:00:00Z"],
    ]);
    // Nights, from 22:00 to 06:00: the intervals cross midnight.
    const nights = [{ start: parseCron("0 22 * * *"), end: parseCron("0 6 * * *") }];
    expect(
      openIntervals(nights, t("2026-11-01T00:00:00Z"), t("2026-11-02T12:00:00Z")).map(([a, b]) => [iso(a), iso(b)]),
    ).toEqual([
      ["2026-11-01T00:00:00Z", "2026-11-01T06:00:00Z"],
      ["2026-11-01T22:00:00Z", "2026-11-02T06:00:00Z"],
    ]);
  });
});
