import { describe, expect, it } from "vitest";
import { parseCsv, parseDuration, parsePetnameFile, validatePetname } from "./petname.js";

describe("petnames", () => {
  it("are trimmed, limited in length and free of control and invisible formatting characters", () => {
    expect(validatePetname("  Zoë's <Photos>  ")).toBe("Zoë's <Photos>");
    expect(validatePetname("😀".repeat(100))).toHaveLength(200);
    expect(() => validatePetname("x".repeat(101))).toThrow(/longer than 100/);
    expect(() => validatePetname("   ")).toThrow(/empty/);
    expect(() => validatePetname("a\nb")).toThrow(/control/);
    expect(() => validatePetname("evil\u202Etxt.exe")).toThrow(/control/);
    expect(() => validatePetname(42)).toThrow(/string/);
  });

  it("import from CSV with a header and quoting, or from a JSON object, all or nothing", () => {
    const csv = 'account,name\r\nacct-1,Alice\n"acct,2","Bob ""The Builder"""\n\n';
    expect(parsePetnameFile(csv)).toEqual([
      { account: "acct-1", name: "Alice" },
      { account: "acct,2", name: 'Bob "The Builder"' },
    ]);
    expect(parsePetnameFile('\uFEFF{"a": "A", "b": "B"}')).toEqual([
      { account: "a", name: "A" },
      { account: "b", name: "B" },
    ]);
    expect(() => parsePetnameFile("a,A\nb\n")).toThrow(/line 2/);
    expect(() => parsePetnameFile("a,A\nb,\n")).toThrow(/line 2: name is empty/);
    expect(() => parsePetnameFile('{"a": 1}')).toThrow(/must be a string/);
    expect(() => parsePetnameFile("[1]")).toThrow(/two fields|object/);
    expect(parseCsv('"multi\nline",x')).toEqual([["multi\nline", "x"]]);
  });

  it("read durations for invitations", () => {
    expect(parseDuration("7d")).toBe(7 * 86_400_000);
    expect(parseDuration("90")).toBe(90_000);
    expect(parseDuration("12h")).toBe(12 * 3_600_000);
    expect(() => parseDuration("soon")).toThrow(/duration/);
  });
});
