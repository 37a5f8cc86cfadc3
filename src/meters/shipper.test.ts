import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../log/logger.js";
import type { UsageStore } from "../store/port.js";
import { TEST_STORES } from "../store/test-stores.js";
import { type EventSink, storeSink } from "./event-sink.js";
import { nextFlushBoundary, Shipper } from "./shipper.js";
import { Spool } from "./spool.js";
import { TrafficTally } from "./traffic-tally.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);

describe.each(TEST_STORES)("the shipper on %s", (_name, open) => {
  let store: UsageStore;
  let dir: string;

  beforeEach(async () => {
    store = await open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-shipper-"));
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The counter sums the store holds for an account, by metric. */
  const sums = async (account: string) => {
    const rows = await store.rollups({ account, from: T0 - HOUR, to: T0 + 2 * HOUR });
    const out: Record<string, string> = {};
    for (const r of rows) out[r.metric] = String(BigInt(out[r.metric] ?? 0) + (r.sum ?? 0n));
    return out;
  };

  /** A sink that fails while `down` is set, and otherwise stores, counting what it was sent. */
  const flaky = (inner: EventSink) => {
    const state = { down: false, sent: 0 };
    const sink: EventSink = {
      describe: () => "flaky",
      close: async () => {},
      send: async (body) => {
        if (state.down) throw new Error("down");
        state.sent++;
        return inner.send(body);
      },
    };
    return { sink, state };
  };

  it("spools each flush before sending, sends when the receiver is back, and a batch sent twice counts once", async () => {
    let now = T0 + 1000;
    const tally = new TrafficTally();
    const spool = Spool.open(path.join(dir, "spool"));
    const { sink, state } = flaky(storeSink(store, "test", async () => {}));
    const shipper = new Shipper({
      tally,
      spool,
      sink,
      server: "s1",
      flushMs: 5000,
      logger: createLogger("silent"),
      now: () => now,
    });
    tally.request("AUTH_a", "GET");
    tally.request("AUTH_a", "GET");
    tally.request("AUTH_a", "COPY");
    tally.bytesOut("AUTH_a", 1000);
    tally.bytesIn("AUTH_b", 5);
    tally.request("AUTH_b", "PUT");
    state.down = true;
    now += 5000;
    expect(shipper.flush()).toBe(5);
    await shipper.drain();
    expect(spool.list()).toHaveLength(1);
    // A second flush while the receiver is down waits in the spool too.
    tally.request("AUTH_a", "DELETE");
    now += 5000;
    shipper.flush();
    await shipper.drain();
    expect(spool.list()).toHaveLength(2);
    const waiting = spool.list().map((name) => spool.read(name));

    state.down = false;
    await shipper.drain();
    expect(spool.list()).toEqual([]);
    expect(await sums("AUTH_a")).toEqual({
      "requests.get": "2",
      "requests.other": "1",
      "requests.delete": "1",
      "bytes.out": "1000",
    });
    expect(await sums("AUTH_b")).toEqual({ "requests.put": "1", "bytes.in": "5" });

    // The receiver stored the batches but the answers were lost: sending them again changes nothing.
    for (const body of waiting) {
      const again = await sink.send(body);
      expect(again).toMatchObject({ accepted: 0, rejected: [] });
      expect(again.duplicates).toBeGreaterThan(0);
    }
    expect((await sums("AUTH_a"))["requests.get"]).toBe("2");
  });

  it("keeps a batch the receiver rejected events of, and sends it again once the receiver takes them", async () => {
    const tally = new TrafficTally();
    const spool = Spool.open(path.join(dir, "spool"));
    const inner = storeSink(store, "test", async () => {});
    let refuse = true;
    // A receiver that refuses the server, as an ingest token limited to another server does, line by line.
    const sink: EventSink = {
      describe: () => "gated",
      close: async () => {},
      send: async (body) => {
        const result = await inner.send(
          refuse ? Buffer.from(body.toString().replaceAll('"s1"', '"s 1\\u0007"')) : body,
        );
        return result;
      },
    };
    const shipper = new Shipper({ tally, spool, sink, server: "s1", flushMs: 5000, logger: createLogger("silent") });
    tally.request("AUTH_r", "GET");
    shipper.flush();
    await shipper.drain();
    expect(spool.list()).toHaveLength(1);
    refuse = false;
    await shipper.drain();
    expect(spool.list()).toEqual([]);
    const rows = await store.rollups({ account: "AUTH_r", from: 0, to: Date.now() + HOUR });
    expect(rows.map((r) => [r.server, r.metric, r.sum])).toEqual([["s1", "requests.get", 1n]]);
  });

  it("leaves what it could not send in the spool for the next run, which sends it without doubling", async () => {
    const tally = new TrafficTally();
    const spoolDir = path.join(dir, "spool");
    const { sink, state } = flaky(storeSink(store, "test", async () => {}));
    const first = new Shipper({
      tally,
      spool: Spool.open(spoolDir),
      sink,
      server: "s1",
      flushMs: 5000,
      logger: createLogger("silent"),
    });
    tally.request("AUTH_a", "HEAD");
    tally.bytesOut("AUTH_a", 1234567);
    state.down = true;
    expect(await first.stop(200)).toBe(1);
    // A crash mid-write leaves a temporary file: the next open removes it, the whole batch stays.
    fs.writeFileSync(path.join(spoolDir, "zzz.ndjson.tmp"), "{half");
    state.down = false;
    const second = new Shipper({
      tally: new TrafficTally(),
      spool: Spool.open(spoolDir),
      sink,
      server: "s1",
      flushMs: 5000,
      logger: createLogger("silent"),
    });
    expect(await second.stop(5000)).toBe(0);
    expect(fs.readdirSync(spoolDir)).toEqual([]);
    const rows = await store.rollups({ account: "AUTH_a", from: 0, to: Date.now() + HOUR });
    expect(rows.map((r) => [r.metric, r.sum])).toEqual(
      expect.arrayContaining([
        ["bytes.out", 1234567n],
        ["requests.head", 1n],
      ]),
    );
    expect(second.run).not.toBe(first.run);
  });

  it("times a flush at its interval's start, and never lets one straddle an hour", async () => {
    let now = T0 - 2000;
    const tally = new TrafficTally();
    const spool = Spool.open(path.join(dir, "spool"));
    const shipper = new Shipper({
      tally,
      spool,
      sink: storeSink(store, "test", async () => {}),
      server: "s1",
      flushMs: 7000,
      logger: createLogger("silent"),
      now: () => now,
    });
    tally.request("AUTH_h", "GET");
    // The next boundary after 09:59:58 with a 7 s interval is 10:00:00 (the hour), not 10:00:05.
    now = T0;
    shipper.flush(T0);
    tally.request("AUTH_h", "GET");
    now = T0 + 5000;
    shipper.flush();
    const lines = spool.list().map((n) => JSON.parse(spool.read(n).toString().trim()) as { time: number });
    expect(lines.map((l) => l.time)).toEqual([T0 - 2000, T0]);
    expect(nextFlushBoundary(T0 - 2000, 7000)).toBe(T0);
    expect(nextFlushBoundary(T0, 7000)).toBe(T0 + 7000 - (T0 % 7000));
    expect(nextFlushBoundary(T0 + 1, 5000)).toBe(T0 + 5000);
  });
});
