// Durability: SIGKILL `tally serve` in the middle of a stream of batches, twice, restart it on the same data, and
// check that every acknowledged event is there exactly once and that a client retrying the rest ends with every
// event exactly once, rollups included; on SQLite and on PostgreSQL.

import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { openBackend } from "../../src/backend/open-backend.js";
import { type RawEvent, validateEvent } from "../../src/domain/event.js";
import { computeRollups, type RollupRow } from "../../src/domain/rollup.js";
import {
  freshStore,
  type IngestAnswer,
  killAll,
  ndjson,
  prng,
  removeDir,
  runTally,
  STORES,
  TallyServer,
  tempDir,
} from "./helpers.js";

const BATCHES = 60;
const PER_BATCH = 2_000;
const IN_FLIGHT = 2;
const START = Date.UTC(2026, 10, 1);

const dirs: string[] = [];

afterAll(() => {
  killAll();
  for (const dir of dirs) removeDir(dir);
});

/** 60 batches of 2,000 events with random (UUIDv4) ids: counters and levels over a few servers, accounts and hours. */
function makeBatches(): Record<string, unknown>[][] {
  const random = prng(20261123);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const servers = ["srv-a", "srv-b", "srv-c"];
  const accounts = Array.from({ length: 40 }, (_, i) => `AUTH_${i}`);
  const batches: Record<string, unknown>[][] = [];
  for (let b = 0; b < BATCHES; b++) {
    const batch: Record<string, unknown>[] = [];
    for (let i = 0; i < PER_BATCH; i++) {
      const roll = random();
      const metric = roll < 0.4 ? "requests.get" : roll < 0.7 ? "bytes.in" : "storage.bytes";
      // Levels sometimes beyond 2^53, as decimal strings; times out of order across the stream.
      const big = metric === "storage.bytes" && random() < 0.1;
      batch.push({
        id: randomUUID(),
        server: pick(servers),
        time: START + Math.floor(random() * 48 * 3_600_000),
        account: pick(accounts),
        metric,
        value: big ? `${BigInt(Math.floor(random() * 1e9)) * 10n ** 12n}` : Math.floor(random() * 1e9),
        ...(random() < 0.3 ? { instance: `bucket-${Math.floor(random() * 4)}` } : {}),
      });
    }
    batches.push(batch);
  }
  return batches;
}

interface StreamResult {
  /** Answers of the batches the server acknowledged, by batch number. */
  readonly acked: Map<number, IngestAnswer>;
  /** Batches sent but not acknowledged: the server died with them in flight. */
  readonly lost: number[];
}

/**
 * Posts the batches in order, IN_FLIGHT at a time. With kill, SIGKILLs the server `delayMs` after `after` batches
 * were acknowledged, while the stream goes on: whatever is in flight then is lost, and nothing more is sent.
 * The delay only moves where in the stream the kill lands; every outcome is checked the same way.
 */
async function stream(
  tally: TallyServer,
  bodies: readonly string[],
  order: readonly number[],
  kill?: { after: number; delayMs: number },
): Promise<StreamResult> {
  const acked = new Map<number, IngestAnswer>();
  const lost: number[] = [];
  let next = 0;
  let killed = false;
  let reached: () => void = () => {};
  const reachedKillPoint = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const worker = async () => {
    while (!killed && next < order.length) {
      const b = order[next++] as number;
      try {
        acked.set(b, await tally.postNdjson(bodies[b] as string));
      } catch (error) {
        if (!killed) throw error;
        lost.push(b);
        continue;
      }
      if (kill && acked.size >= kill.after) reached();
    }
  };
  const workers = Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  if (kill) {
    // The stream goes on while this waits; should it end first, the kill simply finds nothing in flight.
    await Promise.race([reachedKillPoint, workers]);
    await new Promise((resolve) => setTimeout(resolve, kill.delayMs));
    killed = true;
    expect(await tally.kill()).toEqual({ code: null, signal: "SIGKILL" });
  }
  await workers;
  return { acked, lost };
}

/** One line per rollup row, fields in a fixed order, so that a difference reads as a short diff. */
const lines = (rows: readonly RollupRow[]) =>
  rows.map((r) =>
    [r.server, r.account, r.metric, r.instance, r.kind, r.hour, r.count, r.sum, r.last, r.max, r.integral].join(" "),
  );

describe.each(STORES)("on %s", (kind) => {
  it("every acknowledged event survives SIGKILL exactly once, and retries end with every event exactly once", {
    timeout: 300_000,
  }, async () => {
    const dir = tempDir(`durability-${kind}`);
    dirs.push(dir);
    const testStore = await freshStore(kind);
    const start = () => TallyServer.start({ dataDir: dir, args: testStore.args });
    try {
      const batches = makeBatches();
      const bodies = batches.map((b) => ndjson(b));
      const all = Array.from({ length: BATCHES }, (_, b) => b);
      const everAcked = new Set<number>();

      /** After a restart: every batch acknowledged so far is stored, whole, exactly once. */
      const checkAcked = async (tally: TallyServer) => {
        for (const b of everAcked) {
          expect(await tally.postNdjson(bodies[b] as string)).toEqual({
            accepted: 0,
            duplicates: PER_BATCH,
            rejected: [],
          });
        }
      };

      /** Batches whose fate is unknown to the client: sent, but the server died before answering. */
      const inDoubt = new Set<number>();
      /** Batches the client never saw an answer for, though the server had committed them. */
      const answerLost = new Set<number>();

      /** A retried batch is committed whole or not at all: never half of it, and never twice. */
      const expectRetried = (b: number, answer: IngestAnswer) => {
        expect(answer.rejected).toEqual([]);
        expect(answer.accepted + answer.duplicates).toBe(PER_BATCH);
        if (answerLost.has(b)) expect(answer.accepted).toBe(0);
        else if (inDoubt.has(b)) expect([0, PER_BATCH]).toContain(answer.accepted);
        else expect(answer.accepted).toBe(PER_BATCH);
        everAcked.add(b);
      };

      // First run. The last batch is committed, but its answer is dropped, as if the network had lost it; then the
      // stream, killed after 20 batches were acknowledged, with more in flight.
      let tally = await start();
      const last = BATCHES - 1;
      await tally.postNdjson(bodies[last] as string);
      answerLost.add(last);
      const first = await stream(
        tally,
        bodies,
        all.filter((b) => b !== last),
        { after: 20, delayMs: 0 },
      );
      expect(first.acked.size).toBeGreaterThanOrEqual(20);
      for (const [b, answer] of first.acked) {
        expect(answer).toEqual({ accepted: PER_BATCH, duplicates: 0, rejected: [] });
        everAcked.add(b);
      }
      for (const b of first.lost) inDoubt.add(b);

      // Second run: the acknowledged batches are all there; the client retries the rest and is killed again.
      tally = await start();
      await checkAcked(tally);
      const second = await stream(
        tally,
        bodies,
        all.filter((b) => !everAcked.has(b)),
        { after: 15, delayMs: 25 },
      );
      for (const [b, answer] of second.acked) expectRetried(b, answer);
      for (const b of second.lost) inDoubt.add(b);

      // Third run: the client retries whatever is left, then sends the whole stream once more.
      tally = await start();
      await checkAcked(tally);
      const third = await stream(
        tally,
        bodies,
        all.filter((b) => !everAcked.has(b)),
      );
      expect(third.lost).toEqual([]);
      for (const [b, answer] of third.acked) expectRetried(b, answer);
      expect(everAcked.size).toBe(BATCHES);
      const again = await stream(tally, bodies, all);
      let duplicates = 0;
      for (const answer of again.acked.values()) {
        expect(answer.accepted).toBe(0);
        duplicates += answer.duplicates;
      }
      expect(duplicates).toBe(BATCHES * PER_BATCH);
      expect(await tally.stop()).toEqual({ code: 0, signal: null });

      // The rollups kept through two crashes are exactly those of every event once, counter sums included.
      const events = batches.flat().map((raw) => {
        const v = validateEvent(raw as unknown as RawEvent);
        if (!v.ok) throw new Error(v.reason);
        return v.event;
      });
      const expected = lines(computeRollups(events));
      const backend = await openBackend({ data: dir, store: testStore.url });
      const store = backend.maintenance;
      try {
        expect((await store.stats()).events).toBe(BATCHES * PER_BATCH);
        expect(lines(await store.allRollups())).toEqual(expected);
      } finally {
        await backend.close();
      }

      // And `tally rebuild` derives them again from exactly the distinct events sent.
      const rebuilt = await runTally(["rebuild", "--data", dir, ...testStore.args]);
      expect(rebuilt.stderr).toBe("");
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.stdout).toMatch(
        new RegExp(`^rebuilt ${expected.length} hourly rollups from ${BATCHES * PER_BATCH} events in [0-9.]+ s\\n$`),
      );
    } finally {
      await testStore.drop();
    }
  });
});
