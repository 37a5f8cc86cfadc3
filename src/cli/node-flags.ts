// The V8 flags the tally command runs with. The command's first line (`#!/usr/bin/env -S node …`) and
// `npm start` must carry them as Node reads no V8 flags from anywhere else; the benchmarks and the end-to-end
// tests start `tally serve` with these, and node-flags.test.ts checks that the two copies agree.
//
// --single-threaded-gc: V8 otherwise garbage-collects with helper threads (four here), which on a machine of
// few cores take CPU from the two threads that do the work, the main one and the derivation worker. Measured on
// 2 cores (npm run bench:ingest): the helpers spent 2.2–2.6 µs of CPU per event, and ingest went from
// 133,000–137,000 to 146,000–156,000 events/s without them.

export const NODE_FLAGS: readonly string[] = ["--single-threaded-gc"];
