import { describe, expect, it } from "vitest";
import { fingerprint, keyFingerprint } from "./recent-keys.js";

describe("fingerprints", () => {
  // Event key fingerprints are stored with the events: the function must never change.
  it("are what the stored ones were computed with", () => {
    expect(keyFingerprint("store-01", "e-1")).toBe(678688263022476);
    expect(fingerprint("a", "b", "c", "d")).toBe(8622619424240464);
  });

  it("separate the strings they are computed from", () => {
    expect(fingerprint("ab", "c")).not.toBe(fingerprint("a", "bc"));
    expect(fingerprint("a", "b", "")).not.toBe(fingerprint("a", "b"));
  });
});
