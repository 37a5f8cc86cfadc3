import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Decimal, divRound } from "./decimal.js";
import { Ratio } from "./ratio.js";

const d = (s: string) => Decimal.parse(s);

describe("Decimal", () => {
  it("parses and formats decimal text exactly", () => {
    expect(d("0.1").add(d("0.2")).toString()).toBe("0.3");
    expect(d("-1.50").toString()).toBe("-1.50");
    expect(d("-1.50").normalize().toString()).toBe("-1.5");
    expect(d("+007").toString()).toBe("7");
    expect(d("0.001").toString()).toBe("0.001");
    expect(d("-0.001").toString()).toBe("-0.001");
    expect(d("123456789012345678901234567890.5").mul(d("2")).toString()).toBe("246913578024691357802469135781.0");
    for (const bad of ["1e3", " 1", "1.", ".5", "1,5", "abc", "--1", "NaN"]) expect(() => d(bad)).toThrow(bad);
  });
  it("reads YAML numbers from their decimal text", () => {
    expect(Decimal.fromNumber(0.1).toString()).toBe("0.1");
    expect(Decimal.fromNumber(1e-7).normalize().toString()).toBe("0.0000001");
    expect(Decimal.fromNumber(1e21).toString()).toBe("1000000000000000000000");
  });
  it("adds, subtracts, multiplies exactly", () => {
    expect(d("1.005").sub(d("2")).toString()).toBe("-0.995");
    expect(d("0.01").mul(d("0.01")).toString()).toBe("0.0001");
    expect(d("3").cmp(d("3.000"))).toBe(0);
  });
  it("divides to a stated precision with each rounding rule", () => {
    expect(d("1").div(d("3"), 4).toString()).toBe("0.3333");
    expect(d("2").div(d("3"), 4).toString()).toBe("0.6667");
    expect(d("-2").div(d("3"), 4, "down").toString()).toBe("-0.6666");
    expect(d("0.125").round(2, "half-even").toString()).toBe("0.12");
    expect(d("0.135").round(2, "half-even").toString()).toBe("0.14");
    expect(d("0.125").round(2, "half-up").toString()).toBe("0.13");
    expect(d("-0.125").round(2, "half-up").toString()).toBe("-0.13");
    expect(d("-0.121").round(2, "floor").toString()).toBe("-0.13");
    expect(d("-0.129").round(2, "ceiling").toString()).toBe("-0.12");
    expect(d("0.121").round(2, "up").toString()).toBe("0.13");
    expect(() => d("1").div(d("0"), 2)).toThrow("division by zero");
  });
  it("rounds a quotient as the definition says", () => {
    fc.assert(
      fc.property(fc.bigInt(-(10n ** 20n), 10n ** 20n), fc.bigInt(1n, 10n ** 12n), (num, den) => {
        const q = divRound(num, den, "half-even");
        // |num/den - q| <= 1/2
        const diff = num - q * den;
        expect(2n * (diff < 0n ? -diff : diff) <= den).toBe(true);
        const f = divRound(num, den, "floor");
        expect(f * den <= num && (f + 1n) * den > num).toBe(true);
      }),
    );
  });
});

describe("Ratio", () => {
  it("is exact and rounds once", () => {
    const third = new Ratio(1n, 3n);
    expect(third.add(third).add(third).cmp(Ratio.ONE)).toBe(0);
    expect(third.toDecimal(3).toString()).toBe("0.333");
    expect(Ratio.of(d("0.01")).mul(new Ratio(7n)).toDecimal(2).toString()).toBe("0.07");
    expect(new Ratio(5n, -10n).toDecimal(0, "half-even").toString()).toBe("0");
    expect(new Ratio(15n, 10n).toDecimal(0, "half-even").toString()).toBe("2");
    expect(() => Ratio.ONE.div(Ratio.ZERO)).toThrow("division by zero");
  });

  it("keeps every fraction in lowest terms, on either side of 2^53", () => {
    // Euclid on bigints all the way: what the lowest terms must agree with.
    const gcd = (a: bigint, b: bigint) => {
      let [x, y] = [a < 0n ? -a : a, b];
      while (y !== 0n) [x, y] = [y, x % y];
      return x;
    };
    const factor = fc.oneof(fc.bigInt({ min: 1n, max: 2n ** 60n }), fc.constantFrom(2n ** 53n - 1n, 2n ** 53n));
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(2n ** 90n), max: 2n ** 90n }),
        fc.bigInt({ min: 1n, max: 2n ** 90n }),
        factor,
        (num, den, k) => {
          const r = new Ratio(num * k, den * k);
          expect([r.num, r.den]).toEqual([num / gcd(num, den), den / gcd(num, den)]);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
