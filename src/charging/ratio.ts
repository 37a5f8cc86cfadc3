// Exact rationals on bigint, for the arithmetic between a reading and a bill: quantities such as byte-milliseconds
// in GB-hours are not finite decimals, so they stay fractions until a line is rounded once, to a Decimal.

import { Decimal, divRound, type Rounding } from "./decimal.js";

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  // Euclid's steps on bigints while a number is beyond a double's integers, then the same steps on doubles, which
  // hold every integer below 2^53 exactly and divide far faster.
  while (b !== 0n && (a > SAFE || b > SAFE)) {
    const r = a % b;
    a = b;
    b = r;
  }
  if (b === 0n) return a;
  let x = Number(a);
  let y = Number(b);
  while (y !== 0) {
    const r = x % y;
    x = y;
    y = r;
  }
  return BigInt(x);
}

/** num/den in lowest terms, den > 0. */
export class Ratio {
  readonly num: bigint;
  readonly den: bigint;

  constructor(num: bigint, den = 1n) {
    if (den === 0n) throw new RangeError("division by zero");
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = den === 1n ? 1n : gcd(num, den);
    this.num = g > 1n ? num / g : num;
    this.den = g > 1n ? den / g : den;
  }

  static readonly ZERO = new Ratio(0n);
  static readonly ONE = new Ratio(1n);

  static of(d: Decimal | bigint | number): Ratio {
    if (d instanceof Decimal) return new Ratio(d.units, 10n ** BigInt(d.scale));
    return new Ratio(BigInt(d));
  }

  add(o: Ratio): Ratio {
    if (this.den === o.den) return new Ratio(this.num + o.num, this.den);
    return new Ratio(this.num * o.den + o.num * this.den, this.den * o.den);
  }

  sub(o: Ratio): Ratio {
    return this.add(o.neg());
  }

  mul(o: Ratio): Ratio {
    return new Ratio(this.num * o.num, this.den * o.den);
  }

  div(o: Ratio): Ratio {
    if (o.num === 0n) throw new RangeError("division by zero");
    return new Ratio(this.num * o.den, this.den * o.num);
  }

  neg(): Ratio {
    return new Ratio(-this.num, this.den);
  }

  sign(): -1 | 0 | 1 {
    return this.num < 0n ? -1 : this.num > 0n ? 1 : 0;
  }

  cmp(o: Ratio): number {
    const d = this.num * o.den - o.num * this.den;
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }

  /** Rounded to `scale` decimals by `mode`: the one place a fraction becomes a decimal. */
  toDecimal(scale: number, mode: Rounding = "half-even"): Decimal {
    return new Decimal(divRound(this.num * 10n ** BigInt(scale), this.den, mode), scale);
  }

  /** Rounded to `scale` decimals, still a Ratio. */
  round(scale: number, mode: Rounding = "half-even"): Ratio {
    return Ratio.of(this.toDecimal(scale, mode));
  }
}
