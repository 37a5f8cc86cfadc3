// A fixed-size open-addressing table of event key fingerprints and the events they belong to: the in-memory
// generations of the SQLite dedup index (dedup-keys.ts). Its memory never grows; its owner keeps it at most
// three quarters full, where linear probing stays short. A fingerprint's home slot is its high bits, so the
// slots run nearly in fingerprint order (a key sits at its home or a few slots past it): the table moves to
// disk in nearly key order by reading it from first slot to last, with no sort and no lookups.

export class RecentKeys {
  private readonly fps: Float64Array;
  private readonly seqs: Float64Array;
  private count = 0;
  /** Fingerprints (1 to 2^53) per slot: the home slot of fp is floor((fp - 1) / span). */
  private readonly span: number;

  constructor(readonly capacity: number) {
    if (capacity < 4 || (capacity & (capacity - 1)) !== 0) throw new Error("capacity must be a power of two");
    this.fps = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
    this.span = 2 ** 53 / capacity;
  }

  private home(fp: number): number {
    return Math.floor((fp - 1) / this.span);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a fingerprint (> 0) and the sequence number of its event. Two keys may share a fingerprint. */
  add(fp: number, seq: number): void {
    let i = this.home(fp);
    while (this.fps[i] !== 0) i = (i + 1) % this.capacity;
    this.fps[i] = fp;
    this.seqs[i] = seq;
    this.count++;
  }

  has(fp: number): boolean {
    for (let i = this.home(fp); this.fps[i] !== 0; i = (i + 1) % this.capacity) {
      if (this.fps[i] === fp) return true;
    }
    return false;
  }

  /** Sequence numbers of the events whose key has this fingerprint (usually none, rarely more than one). */
  candidates(fp: number): number[] {
    const found: number[] = [];
    for (let i = this.home(fp); this.fps[i] !== 0; i = (i + 1) % this.capacity) {
      if (this.fps[i] === fp) found.push(this.seqs[i] as number);
    }
    return found;
  }

  /** The fingerprint in slot i, or 0 for an empty slot; slots run nearly in fingerprint order. */
  fingerprintAt(i: number): number {
    return this.fps[i] as number;
  }

  /** The sequence number of the event in slot i. */
  seqAt(i: number): number {
    return this.seqs[i] as number;
  }

  clear(): void {
    this.fps.fill(0);
    this.seqs.fill(0);
    this.count = 0;
  }
}

/** A 53-bit fingerprint (1 to 2^53) of an event key: cyrb53 over server, a separator and id. Stored: never change. */
export function keyFingerprint(server: string, id: string): number {
  return fingerprint(server, id);
}

/** cyrb53 of two to four strings, each after the first preceded by a zero: 1 to 2^53. */
export function fingerprint(a: string, b: string, c?: string, d?: string): number {
  hashState[0] = 0xdeadbeef;
  hashState[1] = 0x41c6ce57;
  mixIn(a, false);
  mixIn(b, true);
  if (c !== undefined) mixIn(c, true);
  if (d !== undefined) mixIn(d, true);
  let h1 = hashState[0] as number;
  let h2 = hashState[1] as number;
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0) + 1;
}

/**
 * cyrb53's two 32-bit halves while a fingerprint is computed: in a typed array, because a closure over locals
 * would put them on the heap at every call.
 */
const hashState = new Int32Array(2);

function mixIn(s: string, separated: boolean): void {
  let h1 = hashState[0] as number;
  let h2 = hashState[1] as number;
  if (separated) {
    h1 = Math.imul(h1, 2654435761);
    h2 = Math.imul(h2, 1597334677);
  }
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  hashState[0] = h1;
  hashState[1] = h2;
}
