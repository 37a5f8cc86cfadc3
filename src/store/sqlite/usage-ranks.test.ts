import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatCells, fromRank, fromRankHex, parseCells, toRank } from "./usage-ranks.js";

const values = fc.oneof(
  fc.constantFrom(0n, 1n, 255n, 256n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 53n + 1n, 2n ** 64n, 2n ** 200n),
  fc.bigInt({ min: 0n, max: 2n ** 64n }),
  fc.bigInt({ min: 0n, max: 2n ** 300n }),
);

describe("usage ranks", () => {
  it("decode to the value they encode, from bytes and from SQLite's hex", () => {
    fc.assert(
      fc.property(values, (v) => {
        const rank = toRank(v);
        expect(fromRank(rank)).toBe(v);
        expect(fromRankHex(rank.toString("hex").toUpperCase())).toBe(v);
      }),
    );
  });

  it("order as bytes the way the values order descending", () => {
    fc.assert(
      fc.property(values, values, (a, b) => {
        const bytes = Math.sign(Buffer.compare(toRank(a), toRank(b)));
        expect(bytes).toBe(a === b ? 0 : a > b ? -1 : 1);
      }),
    );
  });
});

describe("usage cells", () => {
  it("round-trip by server id, exact beyond 2^53 and negative as changes", () => {
    const cells = new Map([
      [10, 2n ** 70n],
      [2, 0n],
      [3, -5n],
    ]);
    expect(formatCells(cells)).toBe(`2:0,3:-5,10:${2n ** 70n}`);
    expect(parseCells(formatCells(cells))).toEqual(new Map([...cells].sort(([a], [b]) => a - b)));
    expect(parseCells("")).toEqual(new Map());
  });
});
