import { describe, expect, it } from "vitest";
import { escapeXml } from "./write-star.js";

/** Whether XML 1.0 can carry a code point (its Char production). */
const isXmlChar = (c: number) =>
  c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000;
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

describe("escapeXml", () => {
  it("escapes the five special characters, keeps every other character XML holds, and refuses the rest", () => {
    for (let c = 0; c < 0x10000; c++) {
      const ch = String.fromCharCode(c);
      const text = `a${ch}b`;
      // A lone surrogate is not a character XML holds.
      if (!isXmlChar(c)) {
        expect(() => escapeXml(text), `U+${c.toString(16)}`).toThrow(/cannot be written in XML/);
      } else {
        expect(escapeXml(text), `U+${c.toString(16)}`).toBe(`a${ENTITIES[ch] ?? ch}b`);
      }
    }
    expect(escapeXml("a\u{1F600}b")).toBe("a\u{1F600}b");
    expect(() => escapeXml("a\uDE00\uD83Db")).toThrow(/U\+DE00 cannot be written in XML/);
  });
});
