// How the usage table keeps exact integers of any size on SQLite: as a `rank`, a byte string whose byte order is
// descending value order (see toRank), so one index orders accounts largest first; and an account's cells beside
// its total as text.

/**
 * An account's cells as its totals row keeps them: `server_id:value` by server id, comma-separated, values in
 * decimal. The same form carries the changes a write adds (values may then be negative).
 */
export function parseCells(text: string): Map<number, bigint> {
  const cells = new Map<number, bigint>();
  if (text === "") return cells;
  for (const pair of text.split(",")) {
    const colon = pair.indexOf(":");
    cells.set(Number(pair.slice(0, colon)), decimal(pair.slice(colon + 1)));
  }
  return cells;
}

export function formatCells(cells: ReadonlyMap<number, bigint>): string {
  return [...cells]
    .sort(([a], [b]) => a - b)
    .map(([id, value]) => `${id}:${value}`)
    .join(",");
}

/** A decimal integer: through a double when it has at most 15 digits (exact, and several times cheaper). */
const decimal = (text: string): bigint => (text.length <= 15 ? BigInt(Number(text)) : BigInt(text));

/**
 * Encodes a non-negative integer so that byte order is descending numeric order: a length byte (255 minus the
 * number of bytes, so longer numbers come first), then the big-endian bytes, each complemented.
 */
export function toRank(value: bigint): Buffer {
  if (value < 0n) throw new Error(`a usage total went negative (${value}): the view is out of step with the series`);
  const hex = value === 0n ? "" : value.toString(16);
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
  const rank = Buffer.allocUnsafe(bytes.length + 1);
  rank[0] = 255 - bytes.length;
  for (let i = 0; i < bytes.length; i++) rank[i + 1] = 255 - (bytes[i] as number);
  return rank;
}

/**
 * fromRank of SQLite's hex(rank) (upper-case). Complementing each hex digit d is 15 - d; within 12 digits (48 bits)
 * the value is built in floating point, which is exact there and much cheaper than a bigint from a digit string.
 */
export function fromRankHex(hex: string): bigint {
  if (hex.length <= 2) return 0n;
  if (hex.length > 14) {
    let digits = "0x";
    for (let i = 2; i < hex.length; i++) digits += COMPLEMENT[hex.charCodeAt(i)] as string;
    return BigInt(digits);
  }
  let value = 0;
  for (let i = 2; i < hex.length; i++) {
    const c = hex.charCodeAt(i);
    value = value * 16 + 15 - (c <= 57 ? c - 48 : c - 55);
  }
  return BigInt(value);
}

/** The complement of each upper-case hex digit, by character code. */
const COMPLEMENT: string[] = [];
for (let d = 0; d < 16; d++) COMPLEMENT["0123456789ABCDEF".charCodeAt(d)] = (15 - d).toString(16);

export function fromRank(rank: Uint8Array): bigint {
  // Up to six bytes (48 bits) in floating point, exact there; longer ones through hex digits.
  if (rank.length <= 7) {
    let value = 0;
    for (let i = 1; i < rank.length; i++) value = value * 256 + 255 - (rank[i] as number);
    return BigInt(value);
  }
  let hex = "0x";
  for (let i = 1; i < rank.length; i++) hex += (255 - (rank[i] as number)).toString(16).padStart(2, "0");
  return BigInt(hex);
}
