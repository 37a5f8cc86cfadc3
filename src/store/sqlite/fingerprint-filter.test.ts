import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FingerprintFilter } from "./fingerprint-filter.js";
import { keyFingerprint } from "./recent-keys.js";

describe("FingerprintFilter", () => {
  it("has every fingerprint added", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 2 ** 53 }), { maxLength: 200 }),
        fc.integer({ min: 5, max: 20 }),
        (fps, bits) => {
          const filter = new FingerprintFilter(bits);
          for (const fp of fps) filter.add(fp);
          for (const fp of fps) expect(filter.mayHave(fp)).toBe(true);
        },
      ),
    );
  });

  it("rarely has one that was not, while it holds no more keys than it was sized for", () => {
    const filter = new FingerprintFilter(16);
    for (let i = 0; i < 4000; i++) filter.add(keyFingerprint("s1", `added-${i}`));
    let seem = 0;
    for (let i = 0; i < 10_000; i++) if (filter.mayHave(keyFingerprint("s1", `other-${i}`))) seem++;
    // 4,000 keys in 65,536 bits with 4 bits each: about 1 in 200.
    expect(seem).toBeLessThan(200);
  });

  it("refuses a size it cannot hold", () => {
    expect(() => new FingerprintFilter(4)).toThrow(/log2Bits/);
    expect(() => new FingerprintFilter(33)).toThrow(/log2Bits/);
  });
});
