// The counter rollups held between two writes behind, one per (series, hour), with the count and sum of the events
// applied since the last write: an open-addressing hash table in typed arrays. Held in a Map of objects, tens of
// thousands of them were copied and promoted by every scavenge that found them alive; here they are not objects
// at all. A sum that leaves the safe integers goes on exactly, as a bigint beside the table.

/** Hours since 1970 in a sort key are below 2^21 (239 years) from the earliest held, series ids below 2^32. */
const HOUR_SPAN = 2_097_152;
const SERIES_SPAN = 4_294_967_296;

export class CounterTable {
  /** 0 marks a free slot: series ids start at 1. */
  private series: Float64Array;
  /** Hours since 1970 (below 2^27 for the year 9999). */
  private hours: Int32Array;
  /** NaN when the sum is in `bigSums`, by slot. */
  private sums: Float64Array;
  private counts: Float64Array;
  private readonly bigSums = new Map<number, bigint>();
  private mask: number;
  private used = 0;

  constructor(capacity = 1 << 15) {
    this.series = new Float64Array(capacity);
    this.hours = new Int32Array(capacity);
    this.sums = new Float64Array(capacity);
    this.counts = new Float64Array(capacity);
    this.mask = capacity - 1;
  }

  get size(): number {
    return this.used;
  }

  /**
   * Adds `count` events summing to `value` to the series' row for the hour (hours since 1970; or days, for a table
   * of days).
   */
  add(seriesId: number, hourIndex: number, value: number | bigint, count = 1): void {
    let slot = this.slotOf(seriesId, hourIndex);
    if (this.series[slot] === 0) {
      if ((this.used + 1) * 2 > this.series.length) {
        this.grow();
        slot = this.slotOf(seriesId, hourIndex);
      }
      this.series[slot] = seriesId;
      this.hours[slot] = hourIndex;
      this.sums[slot] = 0;
      this.counts[slot] = 0;
      this.used++;
    }
    this.counts[slot] = (this.counts[slot] as number) + count;
    const sum = this.sums[slot] as number;
    if (typeof value === "number" && sum + value <= Number.MAX_SAFE_INTEGER) {
      this.sums[slot] = sum + value;
    } else {
      this.bigSums.set(slot, (Number.isNaN(sum) ? (this.bigSums.get(slot) as bigint) : BigInt(sum)) + BigInt(value));
      this.sums[slot] = Number.NaN;
    }
  }

  /**
   * Every row held, in the order of counter_rollups (hour, then series), so that writing them walks its pages
   * once. The order is only for speed: rows that span more than 239 years come in the table's order instead.
   */
  forEach(f: (hourIndex: number, seriesId: number, count: number, sum: number | bigint) => void): void {
    const slots = new Int32Array(this.used);
    let n = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let maxSeries = 0;
    for (let slot = 0; slot < this.series.length; slot++) {
      const seriesId = this.series[slot] as number;
      if (seriesId === 0) continue;
      slots[n++] = slot;
      const hour = this.hours[slot] as number;
      if (hour < first) first = hour;
      if (hour > last) last = hour;
      if (seriesId > maxSeries) maxSeries = seriesId;
    }
    if (n > 1 && last - first < HOUR_SPAN && maxSeries < SERIES_SPAN) {
      // A typed array of numbers sorts natively, without a comparison callback; each key finds its slot again.
      const keys = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const slot = slots[i] as number;
        keys[i] = ((this.hours[slot] as number) - first) * SERIES_SPAN + (this.series[slot] as number);
      }
      keys.sort();
      for (let i = 0; i < n; i++) {
        const key = keys[i] as number;
        const seriesId = key % SERIES_SPAN;
        slots[i] = this.slotOf(seriesId, (key - seriesId) / SERIES_SPAN + first);
      }
    }
    for (const slot of slots) {
      const sum = this.sums[slot] as number;
      const value = Number.isNaN(sum) ? (this.bigSums.get(slot) as bigint) : sum;
      f(this.hours[slot] as number, this.series[slot] as number, this.counts[slot] as number, value);
    }
  }

  clear(): void {
    this.series.fill(0);
    this.bigSums.clear();
    this.used = 0;
  }

  /** The slot that holds the (series, hour), or the free one where it would go (linear probing). */
  private slotOf(seriesId: number, hourIndex: number): number {
    let h = Math.imul(seriesId ^ Math.imul(hourIndex, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    let slot = h & this.mask;
    for (;;) {
      const s = this.series[slot] as number;
      if (s === 0 || (s === seriesId && this.hours[slot] === hourIndex)) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Twice the slots; each row moves to its new slot, a big sum with it. */
  private grow(): void {
    const { series, hours, sums, counts } = this;
    const bigSums = new Map(this.bigSums);
    this.bigSums.clear();
    const capacity = series.length * 2;
    this.series = new Float64Array(capacity);
    this.hours = new Int32Array(capacity);
    this.sums = new Float64Array(capacity);
    this.counts = new Float64Array(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < series.length; i++) {
      const seriesId = series[i] as number;
      if (seriesId === 0) continue;
      const slot = this.slotOf(seriesId, hours[i] as number);
      this.series[slot] = seriesId;
      this.hours[slot] = hours[i] as number;
      this.sums[slot] = sums[i] as number;
      this.counts[slot] = counts[i] as number;
      const big = bigSums.get(i);
      if (big !== undefined) this.bigSums.set(slot, big);
    }
  }
}
