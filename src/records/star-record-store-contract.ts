// The suite every StarRecordStore adapter passes.

import { afterEach, beforeEach, expect, it } from "vitest";
import type { ImportedRecord, StarRecordStore } from "./star-record-store.js";

export interface OpenedRecordStore {
  readonly records: StarRecordStore;
  close(): Promise<void>;
}

const record = (over: Partial<ImportedRecord> = {}): ImportedRecord => ({
  recordId: "r1",
  createTime: 1000,
  system: "s1",
  startTime: 0,
  endTime: 86_400_000,
  boundaries: [0, 86_400_000],
  series: [{ server: "s1", account: "cms", metric: "storage.bytes", instance: "star:r1", dims: { site: "X" } }],
  ...over,
});

export function describeStarRecordStoreContract(open: () => Promise<OpenedRecordStore>): void {
  let opened: OpenedRecordStore;
  let store: StarRecordStore;
  beforeEach(async () => {
    opened = await open();
    store = opened.records;
  });
  afterEach(async () => {
    await opened.close();
  });

  it("keeps what it is given and answers it by id", async () => {
    await store.put([record(), record({ recordId: "r2 ünïcode", boundaries: [5, 2 ** 50] })]);
    const got = await store.get(["r1", "r2 ünïcode", "r3"]);
    expect(got.get("r1")).toEqual(record());
    expect(got.get("r2 ünïcode")?.boundaries).toEqual([5, 2 ** 50]);
    expect(got.has("r3")).toBe(false);
    expect(await store.count()).toBe(2);
    expect(await store.get([])).toEqual(new Map());
  });

  it("replaces a record by a version with a later or equal createTime, never by an older one", async () => {
    await store.put([record()]);
    await store.put([record({ createTime: 2000, endTime: 5 })]);
    expect((await store.get(["r1"])).get("r1")?.endTime).toBe(5);
    await store.put([record({ createTime: 1500, endTime: 7 })]);
    expect((await store.get(["r1"])).get("r1")).toMatchObject({ createTime: 2000, endTime: 5 });
    await store.put([record({ createTime: 3000, endTime: 8 }), record({ createTime: 2500, endTime: 9 })]);
    expect((await store.get(["r1"])).get("r1")).toMatchObject({ createTime: 3000, endTime: 8 });
    expect(await store.count()).toBe(1);
  });
}
