// The derivation lag: the clock's arithmetic, and a real SQLite store whose worker has not yet answered.

import { describe, expect, it } from "vitest";
import { event, T0 } from "../contract-events.js";
import { LagClock } from "./derivation-lag.js";
import { openSqliteStore } from "./sqlite-store.js";

describe("LagClock", () => {
  it("counts the events past the derived cursor and the wait of the oldest batch among them", () => {
    const clock = new LagClock();
    expect(clock.lag(1, 1, 1000)).toEqual({ events: 0, seconds: 0 });
    clock.waiting(11, 1000); // events 1..10 committed at 1 s
    clock.waiting(21, 3000); // events 11..20 at 3 s
    expect(clock.lag(1, 21, 4000)).toEqual({ events: 20, seconds: 3 });
    clock.derived(11);
    expect(clock.lag(11, 21, 4000)).toEqual({ events: 10, seconds: 1 });
    clock.waiting(21, 3500); // nothing new: the time of the first commit stays
    expect(clock.lag(15, 21, 5000)).toEqual({ events: 6, seconds: 2 });
    clock.derived(21);
    expect(clock.lag(21, 21, 9000)).toEqual({ events: 0, seconds: 0 });
  });

  it("counts again, from the time it went back, the events a failed or rebuilding worker derives again", () => {
    const clock = new LagClock();
    clock.waiting(101, 1000);
    clock.derived(101);
    clock.back(41, 101, 8000); // the worker failed and went back to its cursor on disk, 41
    expect(clock.lag(41, 101, 9000)).toEqual({ events: 60, seconds: 1 });
    clock.waiting(151, 8500);
    expect(clock.lag(41, 151, 9000)).toEqual({ events: 110, seconds: 1 });
    clock.derived(101);
    expect(clock.lag(101, 151, 9000)).toEqual({ events: 50, seconds: 0.5 });
  });
});

describe("SqliteUsageStore.derivationLag", () => {
  const counted = (i: number) => event({ id: `e${i}`, time: T0 + i });

  it("is the events committed that the worker has not said it derived, for as long as they wait", async () => {
    const store = await openSqliteStore({ path: ":memory:" });
    try {
      await store.insertEvents(Array.from({ length: 500 }, (_, i) => counted(i)));
      await store.stats();
      expect(await store.derivationLag()).toEqual({ events: 0, seconds: 0 });
      // The worker's answer is a message, taken only when this thread is free: until then the batch is behind.
      await store.insertEvents(Array.from({ length: 300 }, (_, i) => counted(500 + i)));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60);
      const lag = await store.derivationLag();
      expect(lag.events).toBe(300);
      expect(lag.seconds).toBeGreaterThanOrEqual(0.05);
      await store.stats();
      expect(await store.derivationLag()).toEqual({ events: 0, seconds: 0 });
    } finally {
      await store.close();
    }
  });
});
