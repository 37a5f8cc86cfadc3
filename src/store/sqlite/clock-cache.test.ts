import { describe, expect, it } from "vitest";
import { ClockCache } from "./clock-cache.js";

describe("ClockCache", () => {
  it("keeps entries until it is full, then drops one not used since the hand last passed it", () => {
    const cache = new ClockCache<string, number>(3);
    expect([cache.add("a", 1), cache.add("b", 2), cache.add("c", 3)]).toEqual([undefined, undefined, undefined]);
    expect(cache.get("a")).toBe(1);
    expect(cache.add("d", 4)).toBe(2);
    // a was used: it got a second chance, and b went.
    expect([cache.get("a"), cache.get("b"), cache.get("c"), cache.get("d")]).toEqual([1, undefined, 3, 4]);
    expect(cache.size).toBe(3);
  });

  it("stays at its capacity and finds every entry it holds, however many come and go", () => {
    const cache = new ClockCache<string, number>(100);
    for (let i = 0; i < 10_000; i++) {
      if (cache.get(`k${i % 150}`) === undefined) cache.add(`k${i % 150}`, i % 150);
      expect(cache.size).toBeLessThanOrEqual(100);
    }
    let found = 0;
    for (let k = 0; k < 150; k++) {
      const v = cache.get(`k${k}`);
      if (v !== undefined) {
        expect(v).toBe(k);
        found++;
      }
    }
    expect(found).toBe(100);
  });

  it("starts empty again when cleared", () => {
    const cache = new ClockCache<string, string>(2);
    cache.add("a", "x");
    cache.clear();
    expect([cache.size, cache.get("a")]).toEqual([0, undefined]);
  });
});
