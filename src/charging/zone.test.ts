import { describe, expect, it } from "vitest";
import { occurrences, openIntervals, parseCron } from "./cron.js";
import { parsePeriod, periodAt } from "./period.js";
import { parsePolicy } from "./policy.js";
import { timeZone, UTC } from "./zone.js";

const t = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString().replace(".000", "");
const HOUR = 3_600_000;
const hours = (p: { start: number; end: number }) => (p.end - p.start) / HOUR;
const BERLIN = timeZone("Europe/Berlin");
const NEW_YORK = timeZone("America/New_York");

describe("time zones", () => {
  it("read local times, DST included", () => {
    expect(BERLIN.local(t("2026-10-31T23:00:00Z"))).toEqual({ year: 2026, month: 11, day: 1, hour: 0, weekday: 0 });
    expect(BERLIN.offsetAt(t("2026-07-01T00:00:00Z"))).toBe(2 * HOUR);
    expect(NEW_YORK.local(t("2026-11-02T14:00:00Z"))).toMatchObject({ day: 2, hour: 9, weekday: 1 });
    expect(UTC.local(t("2026-11-02T14:00:00Z"))).toMatchObject({ day: 2, hour: 14 });
  });
  it("map a wall time that happens twice to its first instant, and one in a gap forward by the gap", () => {
    // Berlin: clocks went forward 02:00 → 03:00 on 2026-03-29, and back 03:00 → 02:00 on 2026-10-25.
    expect(iso(BERLIN.instant(Date.UTC(2026, 2, 29, 2, 30)))).toBe("2026-03-29T01:30:00Z"); // 03:30 CEST
    expect(iso(BERLIN.instant(Date.UTC(2026, 2, 29, 3, 0)))).toBe("2026-03-29T01:00:00Z");
    expect(iso(BERLIN.instant(Date.UTC(2026, 9, 25, 2, 30)))).toBe("2026-10-25T00:30:00Z"); // the CEST one
    expect(iso(BERLIN.instant(Date.UTC(2026, 9, 25, 3, 0)))).toBe("2026-10-25T02:00:00Z");
  });
  it("are refused when unknown or not a whole number of hours from UTC", () => {
    expect(() => timeZone("Mars/Olympus")).toThrow('"Mars/Olympus" is not a time zone this system knows');
    expect(() => timeZone("Asia/Kathmandu")).toThrow("time zone Asia/Kathmandu is +05:30 from UTC on 1970-01-01");
    expect(() => timeZone("Australia/Lord_Howe")).toThrow("is +10:30 from UTC");
    expect(timeZone("Asia/Tokyo").offsetAt(0)).toBe(9 * HOUR);
  });
});

describe("billing periods in a time zone", () => {
  const berlin = parsePolicy("timezone: Europe/Berlin\n").billing;
  it("start calendar months at local midnight; a month across a DST change is an hour shorter or longer", () => {
    expect(parsePeriod(berlin, "2026-11")).toEqual({
      name: "2026-11",
      start: t("2026-10-31T23:00:00Z"),
      end: t("2026-11-30T23:00:00Z"),
    });
    expect(hours(parsePeriod(berlin, "2026-10"))).toBe(745);
    expect(hours(parsePeriod(berlin, "2026-03"))).toBe(743);
    expect(hours(parsePeriod(berlin, "2026-11"))).toBe(720);
    const utc = parsePolicy("timezone: UTC\n").billing;
    expect(hours(parsePeriod(utc, "2026-10"))).toBe(744);
  });
  it("find the period of a time by its local date, in the repeated hour too", () => {
    expect(periodAt(berlin, t("2026-10-31T22:59:59Z")).name).toBe("2026-10");
    expect(periodAt(berlin, t("2026-10-31T23:00:00Z")).name).toBe("2026-11");
    expect(periodAt(berlin, t("2026-10-25T00:30:00Z")).name).toBe("2026-10");
    expect(periodAt(berlin, t("2026-10-25T01:30:00Z")).name).toBe("2026-10");
    expect(periodAt(berlin, t("2026-12-31T23:00:00Z")).name).toBe("2027-01");
  });
  it("start months on a chosen day at local midnight", () => {
    const third = parsePolicy("timezone: America/New_York\nbilling: {period: month, start_day: 3}\n").billing;
    expect(parsePeriod(third, "2026-10")).toMatchObject({
      start: t("2026-10-03T04:00:00Z"),
      end: t("2026-11-03T05:00:00Z"),
    });
    expect(periodAt(third, t("2026-11-03T04:30:00Z")).name).toBe("2026-10");
    expect(periodAt(third, t("2026-11-03T05:00:00Z")).name).toBe("2026-11");
  });
  it("run N weeks from an anchor date, each starting at local midnight", () => {
    const weekly = parsePolicy(
      "timezone: America/New_York\nbilling: {period: weeks, weeks: 1, anchor: 2026-10-26}\n",
    ).billing;
    const across = parsePeriod(weekly, "2026-10-26");
    expect(across).toEqual({ name: "2026-10-26", start: t("2026-10-26T04:00:00Z"), end: t("2026-11-02T05:00:00Z") });
    expect(hours(across)).toBe(169);
    expect(periodAt(weekly, t("2026-11-02T04:59:00Z")).name).toBe("2026-10-26");
    expect(periodAt(weekly, t("2026-11-02T05:00:00Z"))).toMatchObject({
      name: "2026-11-02",
      end: t("2026-11-09T05:00:00Z"),
    });
    expect(periodAt(weekly, t("2026-10-20T00:00:00Z")).name).toBe("2026-10-19");
    expect(() => parsePeriod(weekly, "2026-10-27")).toThrow("not the start date of a 1-week period from 2026-10-26");
    // An anchor with an offset keeps its local time of day: 06:00 in New York.
    const six = parsePolicy(
      'timezone: America/New_York\nbilling: {period: weeks, weeks: 2, anchor: "2026-10-26T06:00:00-04:00"}\n',
    ).billing;
    expect(parsePeriod(six, "2026-11-09")).toMatchObject({ start: t("2026-11-09T11:00:00Z") });
  });
  it("start a period whose local midnight does not happen at the first instant after the gap", () => {
    // Santiago: clocks went forward from 00:00 to 01:00 on 2026-09-06.
    const weekly = parsePolicy(
      "timezone: America/Santiago\nbilling: {period: weeks, weeks: 1, anchor: 2026-08-30}\n",
    ).billing;
    expect(parsePeriod(weekly, "2026-08-30")).toMatchObject({ end: t("2026-09-06T04:00:00Z") });
    expect(parsePeriod(weekly, "2026-09-06")).toMatchObject({ start: t("2026-09-06T04:00:00Z") });
    // The week after starts at 01:00 local, where the one before ended, and ends at midnight: 167 hours.
    expect(hours(parsePeriod(weekly, "2026-08-30"))).toBe(168);
    expect(parsePeriod(weekly, "2026-09-06")).toMatchObject({ end: t("2026-09-13T03:00:00Z") });
    expect(hours(parsePeriod(weekly, "2026-09-06"))).toBe(167);
  });
  it("read effective dates without an offset as local", () => {
    const p = parsePolicy(
      "timezone: Europe/Berlin\npricelists:\n  - name: p\n    effective: {from: 2026-11-01, to: 2026-11-02T08:00}\n",
    );
    expect(p.pricelists.get("p")?.effective).toMatchObject({
      from: t("2026-10-31T23:00:00Z"),
      to: t("2026-11-02T07:00:00Z"),
    });
    // Epoch numbers and times with an offset stay absolute.
    const q = parsePolicy("timezone: Europe/Berlin\npricelists:\n  - name: p\n    effective: {from: 1326041177}\n");
    expect(q.pricelists.get("p")?.effective.from).toBe(1_326_041_177_000);
  });
});

describe("cron in a time zone", () => {
  it("fires at local times", () => {
    const tue = parseCron("00 02 * * Tue");
    expect(occurrences(tue, t("2026-11-01T00:00:00Z"), t("2026-11-15T00:00:00Z"), BERLIN).map(iso)).toEqual([
      "2026-11-03T01:00:00Z",
      "2026-11-10T01:00:00Z",
    ]);
  });
  it("fires a time in the spring gap as late as the gap is long, and a repeated time once", () => {
    const half = parseCron("30 02 * * *");
    expect(occurrences(half, t("2026-03-28T00:00:00Z"), t("2026-03-31T00:00:00Z"), BERLIN).map(iso)).toEqual([
      "2026-03-28T01:30:00Z",
      "2026-03-29T01:30:00Z",
      "2026-03-30T00:30:00Z",
    ]);
    expect(occurrences(half, t("2026-10-24T00:00:00Z"), t("2026-10-27T00:00:00Z"), BERLIN).map(iso)).toEqual([
      "2026-10-24T00:30:00Z",
      "2026-10-25T00:30:00Z",
      "2026-10-26T01:30:00Z",
    ]);
  });
  it("opens weekday windows at local hours", () => {
    const office = [{ start: parseCron("0 9 * * Mon-Fri"), end: parseCron("0 17 * * Mon-Fri") }];
    // Friday before and Monday after New York's clocks went back on Sunday 2026-11-01.
    expect(openIntervals(office, t("2026-10-30T00:00:00Z"), t("2026-11-03T00:00:00Z"), NEW_YORK)).toEqual([
      [t("2026-10-30T13:00:00Z"), t("2026-10-30T21:00:00Z")],
      [t("2026-11-02T14:00:00Z"), t("2026-11-02T22:00:00Z")],
    ]);
  });
});
