import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareUtf8 } from "./rollup.js";

describe("compareUtf8", () => {
  // Surrogate pairs, lone surrogates (encoded as U+FFFD), U+FFFD itself and characters on both sides of the
  // surrogate range: where UTF-16 order and UTF-8 byte order part.
  const edge = fc.constantFrom(
    "a",
    "b",
    "é",
    "\uD7FF",
    "\uE000",
    "\uFFFD",
    "\uFFFF",
    "\uD800",
    "\uDC00",
    "😀",
    "\uD83D",
  );
  const text = fc
    .array(fc.oneof(edge, fc.string({ unit: "binary", maxLength: 2 })), { maxLength: 6 })
    .map((parts) => parts.join(""));

  it("orders strings as their UTF-8 bytes", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(compareUtf8(a, b)).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 5000 },
    );
  });
});
