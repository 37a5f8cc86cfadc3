// The V8 flags and the allocator's setting the tally command runs with. The command's first line
// (`#!/usr/bin/env -S MALLOC_… node …`) and `npm start` must carry them, as Node reads no V8 flags from anywhere
// else and glibc reads its settings only when the process starts; the benchmarks and the end-to-end tests start
// tally with these, and node-flags.test.ts checks that the copies agree.
//
// --single-threaded-gc: V8 otherwise garbage-collects with helper threads (four here), which on a machine of
// few cores take CPU from the two threads that do the work, the main one and the derivation worker (the README's
// benchmark section has the figures).
//
// --initial-old-space-size=64: the main thread holds 25 to 50 MiB while it ingests, and V8 would otherwise collect
// its old generation whenever it grew by half (tally serve sets --heap-growing-percent=50), several times a
// second; from a first limit of 64 MiB it collects less often, for the same peak memory (figures in the README).

export const NODE_FLAGS: readonly string[] = ["--single-threaded-gc", "--initial-old-space-size=64"];

// MALLOC_MMAP_THRESHOLD_=131072: glibc otherwise raises the size above which it maps a block on its own each time
// such a block is freed, up to 32 MiB; the request bodies of a megabyte or two then come from the heap, whose free
// gaps are seldom given back, and the server's memory sat 20 to 40 MiB higher (figures in the README).
export const NODE_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: "131072" };
