// An event block as the derivation worker receives it: only what derivation reads, in typed arrays that move to
// the worker without a copy, and the block's distinct names once. The log keeps blocks as JSON (BlockEvent[]);
// decoding that on the worker cost it a tenth of its time and most of its garbage, and the main thread, which
// has the events at hand, packs them for less.

import { isHeld, type MetricKind } from "../../domain/metric.js";

/** One event as kept in an event block: [id, server id, account, metric, instance, time, value, dims]. */
export type BlockEvent = [
  string,
  number,
  string,
  string,
  string,
  number,
  number | string,
  Readonly<Record<string, string>> | null,
];

export interface PackedBlock {
  readonly firstSeq: number;
  readonly count: number;
  /** The block's distinct accounts, metrics and instances, which `refs` points into. */
  readonly names: readonly string[];
  /** REFS per event: server id, then account, metric and instance as indexes into `names`, then the kind's code. */
  readonly refs: Int32Array<ArrayBuffer>;
  /** 2 per event: time, then value; NaN for a value beyond 2^53, which is then the next of `bigValues`. */
  readonly numbers: Float64Array<ArrayBuffer>;
  /** Values beyond 2^53, in decimal, in event order. */
  readonly bigValues: readonly string[];
  /** The ids of the events of levels and states, in event order: derivation reads no others. */
  readonly heldIds: readonly string[];
}

export const REFS = 5;
export const KINDS: readonly MetricKind[] = ["counter", "level", "state"];

/** Packs a block's events; `kindOf` gives each metric's kind, which the store knows for every metric it holds. */
export function packBlock(
  firstSeq: number,
  events: readonly BlockEvent[],
  kindOf: (metric: string) => MetricKind,
): PackedBlock {
  const index = new Map<string, number>();
  const names: string[] = [];
  const ref = (name: string): number => {
    let i = index.get(name);
    if (i === undefined) {
      i = names.push(name) - 1;
      index.set(name, i);
    }
    return i;
  };
  /** Kind codes by metric: asked of `kindOf` once per metric of the block. */
  const kindCodes = new Map<string, number>();
  const refs = new Int32Array(events.length * REFS);
  const numbers = new Float64Array(events.length * 2);
  const bigValues: string[] = [];
  const heldIds: string[] = [];
  for (let i = 0; i < events.length; i++) {
    const [id, serverId, account, metric, instance, time, value] = events[i] as BlockEvent;
    let code = kindCodes.get(metric);
    if (code === undefined) {
      code = KINDS.indexOf(kindOf(metric));
      kindCodes.set(metric, code);
    }
    const r = i * REFS;
    refs[r] = serverId;
    refs[r + 1] = ref(account);
    refs[r + 2] = ref(metric);
    refs[r + 3] = ref(instance);
    refs[r + 4] = code;
    numbers[i * 2] = time;
    if (typeof value === "number") {
      numbers[i * 2 + 1] = value;
    } else {
      numbers[i * 2 + 1] = Number.NaN;
      bigValues.push(value);
    }
    if (isHeld(KINDS[code] as MetricKind)) heldIds.push(id);
  }
  return { firstSeq, count: events.length, names, refs, numbers, bigValues, heldIds };
}
