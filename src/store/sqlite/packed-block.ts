// An event block of the log (event_blocks), as it is stored and as the derivation worker receives it: the numbers in
// typed arrays, the block's distinct accounts, metrics and instances once, and the ids, big values and dims as one
// JSON text. The typed arrays are stored as BLOBs (in the machine's byte order, as the dedup fingerprints are) and
// move to the worker without a copy. Kept as a JSON array of events instead, a block cost the main thread a
// JSON.stringify of every event and the worker a parse of every event it replayed.

import type { UsageEvent } from "../../domain/event.js";
import { isHeld, type MetricKind } from "../../domain/metric.js";
import { type Dims, dimsKey } from "../../domain/rollup.js";

/** Numbers per event in `refs`: server id, then account, metric and instance as indexes into `names`, then kind. */
export const REFS = 5;
export const KINDS: readonly MetricKind[] = ["counter", "level", "state"];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** What a block holds of its events' identity: all dedup reads. BlockBuilder has it too, for a batch not stored. */
export interface BlockIds {
  readonly firstSeq: number;
  readonly count: number;
  readonly ids: readonly string[];
  readonly refs: Int32Array<ArrayBuffer>;
}

/** A whole block, as the log keeps it. */
export interface LogBlock extends BlockIds {
  readonly names: readonly string[];
  /** 2 per event: time, then value; NaN for a value beyond 2^53, which is then the next of `bigValues`. */
  readonly numbers: Float64Array<ArrayBuffer>;
  /** Values beyond 2^53, in decimal, in event order. */
  readonly bigValues: readonly string[];
  /** The dims of the events that have any, by position in the block. */
  readonly dims: readonly (readonly [number, Dims])[];
}

/** A block as the worker receives it: only what derivation reads (the ids of levels and states, kept dims). */
export interface PackedBlock {
  readonly firstSeq: number;
  readonly count: number;
  readonly names: readonly string[];
  readonly refs: Int32Array<ArrayBuffer>;
  readonly numbers: Float64Array<ArrayBuffer>;
  readonly bigValues: readonly string[];
  /** The ids of the events of levels and states, in event order. */
  readonly heldIds: readonly string[];
  /** The events with kept dims (dimsKey), by position in the block, in event order. */
  readonly dimsKeys: readonly (readonly [number, string])[];
}

/** The events a batch accepts, packed as they are accepted. */
export class BlockBuilder implements BlockIds {
  readonly ids: string[] = [];
  readonly refs: Int32Array<ArrayBuffer>;
  private readonly numbers: Float64Array<ArrayBuffer>;
  private readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly bigValues: string[] = [];
  private readonly dims: [number, Dims][] = [];

  /** `capacity`: at most as many events as will be added. */
  constructor(
    readonly firstSeq: number,
    capacity: number,
  ) {
    this.refs = new Int32Array(capacity * REFS);
    this.numbers = new Float64Array(capacity * 2);
  }

  get count(): number {
    return this.ids.length;
  }

  add(e: Omit<UsageEvent, "server">, serverId: number): void {
    const i = this.ids.push(e.id) - 1;
    const r = i * REFS;
    this.refs[r] = serverId;
    this.refs[r + 1] = this.ref(e.account);
    this.refs[r + 2] = this.ref(e.metric);
    this.refs[r + 3] = this.ref(e.instance);
    this.refs[r + 4] = KINDS.indexOf(e.kind);
    this.numbers[i * 2] = e.time;
    if (e.value <= MAX_SAFE) {
      this.numbers[i * 2 + 1] = Number(e.value);
    } else {
      this.numbers[i * 2 + 1] = Number.NaN;
      this.bigValues.push(e.value.toString());
    }
    if (e.dims) this.dims.push([i, e.dims]);
  }

  finish(): LogBlock {
    const { firstSeq, count, ids, names, bigValues, dims } = this;
    const refs = this.refs.subarray(0, count * REFS);
    return { firstSeq, count, ids, names, refs, numbers: this.numbers.subarray(0, count * 2), bigValues, dims };
  }

  private ref(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.push(name) - 1;
      this.index.set(name, i);
    }
    return i;
  }
}

/** The columns a block is stored in (event_blocks.refs, numbers, text). */
export function blockColumns(b: LogBlock): { refs: Buffer; numbers: Buffer; text: string } {
  return {
    refs: Buffer.from(b.refs.buffer, b.refs.byteOffset, b.count * REFS * 4),
    numbers: Buffer.from(b.numbers.buffer, b.numbers.byteOffset, b.count * 2 * 8),
    text: JSON.stringify([b.names, b.ids, b.bigValues, b.dims]),
  };
}

/** A block from its stored columns. */
export function readBlock(firstSeq: number, refs: Uint8Array, numbers: Uint8Array, text: string): LogBlock {
  const [names, ids, bigValues, dims] = JSON.parse(text) as [string[], string[], string[], [number, Dims][]];
  // Copied into buffers of their own: aligned, and free to move to the worker.
  return {
    firstSeq,
    count: ids.length,
    ids,
    names,
    refs: new Int32Array(new Uint8Array(refs).buffer),
    numbers: new Float64Array(new Uint8Array(numbers).buffer),
    bigValues,
    dims,
  };
}

/** What the worker needs of a block. Its typed arrays are the block's: posting them moves them. */
export function forWorker(b: LogBlock): PackedBlock {
  const heldIds: string[] = [];
  for (let i = 0; i < b.count; i++) {
    if (isHeld(KINDS[b.refs[i * REFS + 4] as number] as MetricKind)) heldIds.push(b.ids[i] as string);
  }
  const dimsKeys: [number, string][] = [];
  for (const [i, dims] of b.dims) {
    const key = dimsKey(dims);
    if (key !== "") dimsKeys.push([i, key]);
  }
  const { firstSeq, count, names, refs, numbers, bigValues } = b;
  return { firstSeq, count, names, refs, numbers, bigValues, heldIds, dimsKeys };
}
