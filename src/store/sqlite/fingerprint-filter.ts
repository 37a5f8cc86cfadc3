// A Bloom filter over event key fingerprints (recent-keys.ts): `mayHave` is false only for a fingerprint never
// added. The SQLite dedup index (dedup-keys.ts) keeps one over the fingerprints on disk, so that a batch whose
// keys were never seen, nearly every batch, looks nothing up there. Its size is fixed: past the keys it was
// sized for, more fingerprints seem present and more are looked up, which costs time, never exactness.

/** Bits set per fingerprint. */
const HASHES = 4;

export class FingerprintFilter {
  private readonly words: Uint32Array;
  private readonly mask: number;

  /** A filter of 2^log2Bits bits: 2^28 (32 MiB) holds 20 million fingerprints at a false positive in 200. */
  constructor(log2Bits: number) {
    if (!Number.isInteger(log2Bits) || log2Bits < 5 || log2Bits > 32) throw new Error("log2Bits must be 5 to 32");
    this.words = new Uint32Array(2 ** (log2Bits - 5));
    this.mask = 2 ** log2Bits - 1;
  }

  add(fp: number): void {
    const a = fp >>> 0;
    const b = stride(fp, a);
    for (let i = 0; i < HASHES; i++) {
      const bit = ((a + i * b) >>> 0) & this.mask;
      this.words[bit >>> 5] = (this.words[bit >>> 5] as number) | (1 << (bit & 31));
    }
  }

  mayHave(fp: number): boolean {
    const a = fp >>> 0;
    const b = stride(fp, a);
    for (let i = 0; i < HASHES; i++) {
      const bit = ((a + i * b) >>> 0) & this.mask;
      if (((this.words[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  clear(): void {
    this.words.fill(0);
  }
}

/**
 * Positions a + i·b (double hashing): a is the fingerprint's low 32 bits (it is itself a hash, up to 2^53), b
 * its high 21 bits mixed with a over 32 bits and made odd, so that the positions differ.
 */
function stride(fp: number, low: number): number {
  return (Math.imul(Math.floor(fp / 4294967296) ^ low, 0x9e3779b1) | 1) >>> 0;
}
