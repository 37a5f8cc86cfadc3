// The SQLite server's memory budget (tally serve --memory MiB) shared out among the caches that grow with the
// store: the one place that says where memory goes. What is not scaled (Node itself, the code of both threads,
// their young generations, the requests in flight, the events sent to the worker and not yet applied) is taken
// off first as FIXED_MIB, measured on the ingest benchmark; the rest goes to the caches in the shares below.
// Every share shrinks with the budget; a smaller one costs speed (more lookups on disk), never exactness.

export const DEFAULT_MEMORY_MIB = 512;
/** Below this the fixed part leaves the caches too little to be worth having. */
export const MIN_MEMORY_MIB = 320;
export const MAX_MEMORY_MIB = 65_536;

/**
 * What the process holds whatever the budget, measured: Node and the code of both threads (about 80 MiB), the main
 * thread's heap with the requests in flight (60 to 75 MiB), the worker's young generation (16 MiB), buffers, and
 * room for the heaps' swings between collections, which put the peak 30 to 50 MiB above the usual.
 */
export const FIXED_MIB = 240;

/** Shares of what is left after FIXED_MIB, in percent. */
const SHARES = {
  /** The event log's page cache: the dedup index on disk (event_keys) and the log's tail. */
  logCache: 10,
  /** The derived database's page cache on the store's connection: reads only. */
  readCache: 5,
  /** The derived database's page cache on the worker's connection: the pages each write-behind touches. */
  deriveCache: 16,
  /** The dedup tables in memory (two generations) and the Bloom filter over the keys on disk. */
  dedup: 18,
  /** The worker's old generation: the series cache and what a write-behind holds between writes. */
  workerHeap: 51,
} as const;

/** Bytes the worker's heap holds per cached series: its fields, its strings and its place in the cache. */
const BYTES_PER_SERIES = 300;
/**
 * Of the worker's heap, what the series cache may take: the rest holds what a write-behind gathers, and the garbage
 * V8 lets pile up between collections (half as much as is live: tally serve sets --heap-growing-percent).
 */
const SERIES_SHARE = 0.5;
/** Bytes per level change held for the usage table (a series id and its change). */
const BYTES_PER_USAGE_CHANGE = 200;
/** Of the worker's heap, what the level changes held for the usage table may take. */
const USAGE_SHARE = 0.1;

export interface MemoryShares {
  readonly memoryMiB: number;
  /** The event log's page cache (PRAGMA cache_size), MiB. */
  readonly logCacheMiB: number;
  /** The derived database's page cache on the store's connection, for reads, MiB. */
  readonly readCacheMiB: number;
  /** The derived database's page cache on the derivation worker's connection, MiB. */
  readonly deriveCacheMiB: number;
  /** Slots of each in-memory dedup table (16 bytes each, two tables): a power of two. */
  readonly recentKeySlots: number;
  /** The Bloom filter over the dedup keys on disk: 2^filterBits bits. */
  readonly filterBits: number;
  /** The derivation worker's old generation (its V8 heap limit), MiB. */
  readonly workerHeapMiB: number;
  /** Series the derivation worker keeps in memory. */
  readonly seriesCacheSize: number;
  /** Level changes held for the usage table between reads before they are written anyway. */
  readonly usageFlushChanges: number;
}

const MIB = 1024 * 1024;

/** How a budget of `memoryMiB` (at least MIN_MEMORY_MIB) is shared out. */
export function memoryShares(memoryMiB: number = DEFAULT_MEMORY_MIB): MemoryShares {
  if (!Number.isInteger(memoryMiB) || memoryMiB < MIN_MEMORY_MIB || memoryMiB > MAX_MEMORY_MIB) {
    throw new RangeError(`the memory budget must be ${MIN_MEMORY_MIB} to ${MAX_MEMORY_MIB} MiB, not ${memoryMiB}`);
  }
  const left = memoryMiB - FIXED_MIB;
  const share = (percent: number) => (left * percent) / 100;
  const dedupBytes = share(SHARES.dedup) * MIB;
  // Up to two thirds to the two tables in memory, what they leave to the filter; each a power of two.
  const recentKeySlots = 2 ** Math.floor(Math.log2((dedupBytes * 2) / 3 / 2 / 16));
  const filterBits = Math.min(32, Math.floor(Math.log2((dedupBytes - recentKeySlots * 2 * 16) * 8)));
  const workerHeapMiB = Math.floor(share(SHARES.workerHeap));
  return {
    memoryMiB,
    logCacheMiB: Math.floor(share(SHARES.logCache)),
    readCacheMiB: Math.floor(share(SHARES.readCache)),
    deriveCacheMiB: Math.floor(share(SHARES.deriveCache)),
    recentKeySlots,
    filterBits,
    workerHeapMiB,
    seriesCacheSize: Math.floor((workerHeapMiB * MIB * SERIES_SHARE) / BYTES_PER_SERIES),
    usageFlushChanges: Math.floor((workerHeapMiB * MIB * USAGE_SHARE) / BYTES_PER_USAGE_CHANGE),
  };
}

/** One line for the log: where the budget goes. */
export function describeShares(m: MemoryShares): string {
  const n = (v: number) => v.toLocaleString("en-US");
  return (
    `memory budget ${n(m.memoryMiB)} MiB: ${FIXED_MIB} MiB fixed; SQLite page caches ${m.logCacheMiB} MiB (event log), ` +
    `${m.deriveCacheMiB} MiB (derivation), ${m.readCacheMiB} MiB (reads); dedup keys ${(m.recentKeySlots * 32) / MIB} MiB ` +
    `and filter ${2 ** m.filterBits / 8 / MIB} MiB; derivation heap ${m.workerHeapMiB} MiB ` +
    `(${n(m.seriesCacheSize)} series, ${n(m.usageFlushChanges)} usage changes)`
  );
}
