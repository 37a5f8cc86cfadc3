// A fixed-capacity cache that makes room by the CLOCK algorithm (a second chance for every entry used since the
// hand last passed it): one array write per hit and O(1) amortized per eviction. Keeping a Map in exact recency
// order instead costs a delete and a set per hit, and finding its oldest entry walks past every deleted one.

export class ClockCache<K, V> {
  private readonly slots = new Map<K, number>();
  private readonly keys: K[] = [];
  private readonly values: V[] = [];
  private readonly used: Uint8Array;
  private hand = 0;

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new Error("capacity must be at least 1");
    this.used = new Uint8Array(capacity);
  }

  get size(): number {
    return this.slots.size;
  }

  get(key: K): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.used[slot] = 1;
    return this.values[slot];
  }

  /** Gives a key in the cache another value. */
  replace(key: K, value: V): void {
    const slot = this.slots.get(key);
    if (slot === undefined) throw new Error("replace: the key is not in the cache");
    this.used[slot] = 1;
    this.values[slot] = value;
  }

  /** Adds a key that is not in the cache; returns the value of the entry that had to go to make room, if one did. */
  add(key: K, value: V): V | undefined {
    if (this.keys.length < this.capacity) {
      this.slots.set(key, this.keys.length);
      this.keys.push(key);
      this.values.push(value);
      return undefined;
    }
    // Bounded: a full turn clears every used bit, so the hand stops within two turns.
    while (this.used[this.hand] === 1) {
      this.used[this.hand] = 0;
      this.hand = (this.hand + 1) % this.capacity;
    }
    const slot = this.hand;
    const gone = this.values[slot];
    this.slots.delete(this.keys[slot] as K);
    this.slots.set(key, slot);
    this.keys[slot] = key;
    this.values[slot] = value;
    this.hand = (slot + 1) % this.capacity;
    return gone;
  }

  clear(): void {
    this.slots.clear();
    this.keys.length = 0;
    this.values.length = 0;
    this.used.fill(0);
    this.hand = 0;
  }
}
