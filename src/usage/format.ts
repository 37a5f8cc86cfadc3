// Numbers for people: sizes in binary units, counts with separators, times relative to now. Exact values stay bigint.

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/** Above this a value takes the bigint path; at or below it floating point is exact for every step used here. */
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/** 1536n → "1.5 KiB"; three significant digits at most, computed from the bigint without losing its size. */
export function humanBytes(value: bigint): string {
  if (value < 1024n) return `${value} ${value === 1n ? "byte" : "bytes"}`;
  let unit = 0;
  let scaled: number;
  if (value <= MAX_EXACT) {
    // The same steps as below in floating point, a table's worth of times cheaper: within 2^53, dividing by a
    // power of two and flooring are exact, so every digit comes out as the bigint steps give it.
    scaled = Number(value);
    while (scaled >= 1024 * 1024 && unit < UNITS.length - 2) {
      scaled = Math.floor(scaled / 1024);
      unit++;
    }
  } else {
    let big = value;
    while (big >= 1024n * 1024n && unit < UNITS.length - 2) {
      big /= 1024n;
      unit++;
    }
    scaled = Number(big);
  }
  // scaled < 1024², so this float division is exact enough for three digits.
  const n = scaled / 1024;
  unit++;
  const text = n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  return `${trimZeros(text)} ${UNITS[unit]}`;
}

/** 1234567n → "1,234,567". */
export function groupDigits(value: bigint): string {
  return value < 0n ? `-${groupDecimal((-value).toString())}` : groupDecimal(value.toString());
}

/** "1234567" → "1,234,567": groupDigits of a value already written in decimal. */
export function groupDecimal(digits: string): string {
  const head = digits.length % 3 || 3;
  let out = digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return out;
}

/** A short count: 1234n → "1.2k", 5_600_000n → "5.6M". */
export function humanCount(value: bigint): string {
  if (value < 1000n) return value.toString();
  const units = ["k", "M", "G", "T", "P", "E"];
  let unit = -1;
  let scaled = value;
  while (scaled >= 1_000_000n && unit < units.length - 2) {
    scaled /= 1000n;
    unit++;
  }
  const n = Number(scaled) / 1000;
  unit++;
  const text = n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  return `${trimZeros(text)}${units[unit]}`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 days ago". */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s ago`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min ago`;
  const h = Math.round(min / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

export function isoMinute(time: number): string {
  return new Date(time).toISOString().slice(0, 16).replace("T", " ");
}

/** "1.50" → "1.5", "2.00" → "2", "100" stays. */
function trimZeros(text: string): string {
  if (!text.includes(".")) return text;
  let end = text.length;
  while (text.charCodeAt(end - 1) === 48) end--; // "0"
  if (text.charCodeAt(end - 1) === 46) end--; // "."
  return text.slice(0, end);
}
