// Exact integer values: JSON numbers up to 2^53, decimal strings beyond; never floats.

const DECIMAL = /^-?(0|[1-9][0-9]*)$/;
/** Values are bounded to keep rollup arithmetic and storage sane: 10^38 bytes is far beyond any storage system. */
const MAX_DIGITS = 38;

/** Parses an exact integer from a JSON value, or returns a reason it is not one. */
export function parseExactInteger(raw: unknown): bigint | string {
  if (typeof raw === "number") {
    if (Number.isNaN(raw)) return "is NaN, not an integer";
    if (!Number.isFinite(raw)) return "is infinite, not an integer";
    if (!Number.isInteger(raw)) return `is ${raw}, not an integer`;
    if (!Number.isSafeInteger(raw))
      return "is beyond 2^53 as a JSON number; send it as a decimal string to keep it exact";
    return BigInt(raw);
  }
  if (typeof raw === "string") {
    if (!DECIMAL.test(raw)) return `is "${truncate(raw)}", not a decimal integer`;
    if (raw.replace("-", "").length > MAX_DIGITS) return `has more than ${MAX_DIGITS} digits`;
    return BigInt(raw);
  }
  return `must be an integer (a JSON number or a decimal string), not ${describeType(raw)}`;
}

export function describeType(raw: unknown): string {
  if (raw === null) return "null";
  if (Array.isArray(raw)) return "an array";
  return typeof raw === "object" ? "an object" : `a ${typeof raw}`;
}

export function truncate(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The smallest and largest values SQLite keeps as a 64-bit INTEGER; anything else is stored as decimal text. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}
