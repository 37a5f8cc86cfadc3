// Exact decimal numbers on bigint: + - * are exact; division and rounding go to a stated number of decimals with a
// stated rounding rule, so that money is never a float.

import { validation } from "../domain/errors.js";

/**
 * How a value is rounded to a number of decimals: half-even (banker's, the default: ties go to the even digit),
 * half-up (ties away from zero), down (toward zero), up (away from zero), floor and ceiling.
 */
export type Rounding = "half-even" | "half-up" | "down" | "up" | "floor" | "ceiling";

export const ROUNDINGS: readonly Rounding[] = ["half-even", "half-up", "down", "up", "floor", "ceiling"];

/** The integer nearest num/den by `mode`; den must not be zero. */
export function divRound(num: bigint, den: bigint, mode: Rounding): bigint {
  if (den === 0n) throw new RangeError("division by zero");
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const q = num / den; // truncated toward zero
  const r = num - q * den;
  if (r === 0n) return q;
  const negative = num < 0n;
  const away = negative ? q - 1n : q + 1n;
  switch (mode) {
    case "down":
      return q;
    case "up":
      return away;
    case "floor":
      return negative ? q - 1n : q;
    case "ceiling":
      return negative ? q : q + 1n;
    default: {
      const twice = (r < 0n ? -r : r) * 2n;
      if (twice > den) return away;
      if (twice < den) return q;
      if (mode === "half-up") return away;
      return q % 2n === 0n ? q : away;
    }
  }
}

const DECIMAL_TEXT = /^([+-]?)(\d+)(?:\.(\d+))?$/;
/** Digits a decimal may have in text: far beyond any price or quantity, and a bound on the work one costs. */
const MAX_DIGITS = 60;

/** units × 10^-scale, scale ≥ 0. */
export class Decimal {
  constructor(
    readonly units: bigint,
    readonly scale: number,
  ) {
    if (!Number.isInteger(scale) || scale < 0) throw new RangeError(`bad decimal scale ${scale}`);
  }

  static readonly ZERO = new Decimal(0n, 0);

  static of(n: bigint | number): Decimal {
    if (typeof n === "number" && !Number.isSafeInteger(n)) throw new RangeError(`${n} is not a safe integer`);
    return new Decimal(BigInt(n), 0);
  }

  /** Parses "12", "-0.015", "+3.50"; anything else (exponents, spaces, commas) is a validation error. */
  static parse(text: string, what = "number"): Decimal {
    const m = DECIMAL_TEXT.exec(text);
    if (!m || (m[2] as string).length + (m[3]?.length ?? 0) > MAX_DIGITS) {
      throw validation(`${what} "${text.slice(0, 40)}" is not a decimal number (like 12 or 0.015)`);
    }
    const frac = m[3] ?? "";
    const units = BigInt(`${m[2]}${frac}`);
    return new Decimal(m[1] === "-" ? -units : units, frac.length);
  }

  /** A YAML or JSON number, read from its decimal text so that 0.1 stays exactly one tenth. */
  static fromNumber(n: number, what = "number"): Decimal {
    if (!Number.isFinite(n)) throw validation(`${what} ${n} is not a finite number`);
    const text = String(n);
    if (/e/i.test(text)) {
      // String() writes very large and very small numbers with an exponent; toFixed gives their decimal digits.
      return Decimal.parse(Math.abs(n) < 1 ? n.toFixed(20).replace(/0+$/, "") : BigInt(n).toString(), what);
    }
    return Decimal.parse(text, what);
  }

  private align(other: Decimal): [bigint, bigint, number] {
    const scale = Math.max(this.scale, other.scale);
    return [this.units * 10n ** BigInt(scale - this.scale), other.units * 10n ** BigInt(scale - other.scale), scale];
  }

  add(other: Decimal): Decimal {
    const [a, b, scale] = this.align(other);
    return new Decimal(a + b, scale);
  }

  sub(other: Decimal): Decimal {
    const [a, b, scale] = this.align(other);
    return new Decimal(a - b, scale);
  }

  mul(other: Decimal): Decimal {
    return new Decimal(this.units * other.units, this.scale + other.scale);
  }

  neg(): Decimal {
    return new Decimal(-this.units, this.scale);
  }

  /** this / other to `scale` decimals, rounded by `mode`; dividing by zero is a RangeError. */
  div(other: Decimal, scale: number, mode: Rounding = "half-even"): Decimal {
    if (other.units === 0n) throw new RangeError("division by zero");
    // this/other = (tu / 10^ts) / (ou / 10^os); scaled by 10^scale.
    const num = this.units * 10n ** BigInt(scale + other.scale);
    const den = other.units * 10n ** BigInt(this.scale);
    return new Decimal(divRound(num, den, mode), scale);
  }

  /** Rounded to `scale` decimals; a value with fewer decimals is only widened. */
  round(scale: number, mode: Rounding = "half-even"): Decimal {
    if (scale >= this.scale) return new Decimal(this.units * 10n ** BigInt(scale - this.scale), scale);
    return new Decimal(divRound(this.units, 10n ** BigInt(this.scale - scale), mode), scale);
  }

  cmp(other: Decimal): number {
    const [a, b] = this.align(other);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  isZero(): boolean {
    return this.units === 0n;
  }

  /** Decimal text with exactly `scale` decimals: 1.50 stays "1.50". */
  toString(): string {
    const negative = this.units < 0n;
    const digits = (negative ? -this.units : this.units).toString().padStart(this.scale + 1, "0");
    const int = digits.slice(0, digits.length - this.scale);
    const frac = digits.slice(digits.length - this.scale);
    return `${negative ? "-" : ""}${int}${this.scale > 0 ? `.${frac}` : ""}`;
  }

  /** The same value without trailing zeros in its decimals: 1.50 → "1.5", 2.000 → "2". */
  normalize(): Decimal {
    let { units, scale } = this;
    while (scale > 0 && units % 10n === 0n) {
      units /= 10n;
      scale--;
    }
    return new Decimal(units, scale);
  }
}
