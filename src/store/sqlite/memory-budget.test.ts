import { describe, expect, it } from "vitest";
import {
  DEFAULT_MEMORY_MIB,
  FIXED_MIB,
  MAX_MEMORY_MIB,
  type MemoryShares,
  MIN_MEMORY_MIB,
  memoryShares,
} from "./memory-budget.js";

/** What the shares take, in MiB, as the caches allocate them. */
function total(m: MemoryShares): number {
  const dedup = (m.recentKeySlots * 2 * 16 + 2 ** m.filterBits / 8) / 2 ** 20;
  return FIXED_MIB + m.logCacheMiB + m.readCacheMiB + m.deriveCacheMiB + dedup + m.workerHeapMiB;
}

describe("memoryShares", () => {
  it("keeps the default server within 512 MiB", () => {
    const m = memoryShares();
    expect(m.memoryMiB).toBe(DEFAULT_MEMORY_MIB);
    expect(DEFAULT_MEMORY_MIB).toBe(512);
    expect(total(m)).toBeLessThanOrEqual(512);
    expect(m).toEqual(memoryShares(512));
  });

  it("shares out every budget within it, and nearly all of it", () => {
    for (let budget = MIN_MEMORY_MIB; budget <= MAX_MEMORY_MIB; budget = Math.ceil(budget * 1.3)) {
      const m = memoryShares(budget);
      // The dedup share rounds down to powers of two: at worst half of it goes unused.
      expect(total(m)).toBeLessThanOrEqual(budget);
      expect(total(m)).toBeGreaterThan(budget * 0.85);
    }
  });

  it("grows every cache with the budget", () => {
    const keys = Object.keys(memoryShares()) as (keyof MemoryShares)[];
    const small = memoryShares(MIN_MEMORY_MIB);
    const large = memoryShares(4096);
    for (const key of keys) expect(large[key], key).toBeGreaterThan(small[key]);
    for (const key of keys) expect(small[key], key).toBeGreaterThan(0);
  });

  it("gives the dedup tables a power of two of slots, and the filter at most 2^32 bits", () => {
    for (const budget of [MIN_MEMORY_MIB, 400, 512, 1000, MAX_MEMORY_MIB]) {
      const { recentKeySlots, filterBits } = memoryShares(budget);
      expect(Number.isInteger(Math.log2(recentKeySlots))).toBe(true);
      expect(recentKeySlots).toBeGreaterThanOrEqual(4);
      expect(filterBits).toBeGreaterThanOrEqual(5);
      expect(filterBits).toBeLessThanOrEqual(32);
    }
  });

  it("refuses a budget out of range or not whole", () => {
    expect(() => memoryShares(MIN_MEMORY_MIB - 1)).toThrow(/320 to 65536 MiB/);
    expect(() => memoryShares(MAX_MEMORY_MIB + 1)).toThrow(RangeError);
    expect(() => memoryShares(300.5)).toThrow(RangeError);
  });
});
