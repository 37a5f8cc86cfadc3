import { describe, expect, it } from "vitest";
import { event } from "../contract-events.js";
import { BlockBuilder, blockColumns, forWorker, KINDS, REFS, readBlock } from "./packed-block.js";

describe("packed event blocks", () => {
  const events = [
    event({ id: "c1", account: "a", value: 7n, dims: { site: "x" } }),
    event({ id: "l1", account: "b", metric: "storage.bytes", kind: "level", value: 345876451382054092800n }),
    event({ id: "s1", account: "a", metric: "custom.up", kind: "state", instance: "v1", value: 1n, time: 5 }),
  ];

  it("read back from their columns as they were built, values beyond 2^53 exact", () => {
    const builder = new BlockBuilder(41, 10);
    events.forEach((e, i) => {
      builder.add(e, i + 1);
    });
    const built = builder.finish();
    const { refs, numbers, text } = blockColumns(built);
    const read = readBlock(41, refs, numbers, text);
    expect(read).toEqual(built);
    expect(read.count).toBe(3);
    expect(read.names).toEqual(["a", "requests.get", "", "b", "storage.bytes", "custom.up", "v1"]);
    expect([...read.refs.subarray(2 * REFS, 3 * REFS)]).toEqual([3, 0, 5, 6, KINDS.indexOf("state")]);
    expect([...read.numbers]).toEqual([events[0]?.time, 7, events[1]?.time, Number.NaN, 5, 1]);
    expect(read.bigValues).toEqual(["345876451382054092800"]);
    expect(read.dims).toEqual([[0, { site: "x" }]]);
  });

  it("go to the worker with the ids of levels and states only", () => {
    const builder = new BlockBuilder(1, 3);
    for (const e of events) builder.add(e, 1);
    const packed = forWorker(builder.finish());
    expect(packed.heldIds).toEqual(["l1", "s1"]);
    expect(packed).not.toHaveProperty("dims");
  });
});
