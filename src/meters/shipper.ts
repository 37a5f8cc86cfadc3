// Turns a meter's counts into counter events every few seconds and gets them to the receiver without losing or
// doubling any: each flush is written to the spool (durably) before it is sent, and removed only once the receiver
// has committed it. A batch sent again, after a timeout or a restart of either side, holds the same ids, so the
// receiver counts its events as duplicates.

import { randomUUID } from "node:crypto";
import { messageOf } from "../domain/errors.js";
import type { Logger } from "../log/logger.js";
import type { EventSink } from "./event-sink.js";
import type { Spool } from "./spool.js";
import { type TrafficTally, trafficEvents } from "./traffic-tally.js";

const HOUR_MS = 3_600_000;
/** Events per spooled batch: well under the receiver's batch and body limits. */
const BATCH_EVENTS = 10_000;

export interface ShipperOptions {
  readonly tally: TrafficTally;
  readonly spool: Spool;
  readonly sink: EventSink;
  readonly server: string;
  readonly flushMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class Shipper {
  /** Names this run: no two runs of a meter make the same event id. */
  readonly run = randomUUID().replaceAll("-", "").slice(0, 16);
  private sequence = 0;
  private intervalStart: number;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private failing = false;
  private readonly now: () => number;

  constructor(private readonly options: ShipperOptions) {
    this.now = options.now ?? Date.now;
    this.intervalStart = this.now();
  }

  /** Flushes at every multiple of the interval and at every hour, so that no flush's counts straddle two hours. */
  start(): void {
    const tick = () => {
      const boundary = nextFlushBoundary(this.intervalStart, this.options.flushMs);
      this.timer = setTimeout(
        () => {
          try {
            this.flush(boundary);
          } finally {
            void this.drain();
            tick();
          }
        },
        Math.max(0, boundary - this.now()),
      );
    };
    tick();
    // Batches a previous run left in the spool go first.
    void this.drain();
  }

  /** Writes the counts since the last flush to the spool as events timed at the interval's start; returns how many. */
  flush(end = this.now()): number {
    const snapshot = this.options.tally.take();
    const time = this.intervalStart;
    this.intervalStart = Math.max(end, time);
    const sequence = ++this.sequence;
    const events = trafficEvents(snapshot, { server: this.options.server, run: this.run, sequence, time });
    if (events.length === 0) return 0;
    let requests = 0n;
    let bytesIn = 0n;
    let bytesOut = 0n;
    for (const e of events) {
      if (e.metric === "bytes.in") bytesIn += BigInt(e.value);
      else if (e.metric === "bytes.out") bytesOut += BigInt(e.value);
      else requests += BigInt(e.value);
    }
    const written: string[] = [];
    try {
      for (let part = 0; part * BATCH_EVENTS < events.length; part++) {
        const slice = events.slice(part * BATCH_EVENTS, (part + 1) * BATCH_EVENTS);
        const name = `${String(time).padStart(15, "0")}-${this.run}-${String(sequence).padStart(9, "0")}-${part}`;
        this.options.spool.put(name, Buffer.from(slice.map((e) => `${JSON.stringify(e)}\n`).join("")));
        written.push(name);
      }
    } catch (error) {
      // The counts go back, to be written with the next flush: a full disk delays them rather than losing them.
      for (const name of written) this.options.spool.remove(name);
      this.options.tally.merge(snapshot);
      this.options.logger.error(
        { spool: this.options.spool.dir, reason: messageOf(error) },
        `cannot write counts to the spool: ${messageOf(error)}; they are kept in memory and written at the next flush`,
      );
      return 0;
    }
    this.options.logger.info(
      {
        flush: sequence,
        run: this.run,
        time: new Date(time).toISOString(),
        events: events.length,
        accounts: snapshot.size,
        requests: requests.toString(),
        bytes_in: bytesIn.toString(),
        bytes_out: bytesOut.toString(),
      },
      `counted ${requests} requests, ${bytesIn} bytes in and ${bytesOut} bytes out for ${snapshot.size} accounts`,
    );
    return events.length;
  }

  /** Sends the spooled batches, oldest first, until one fails; one drain at a time. */
  drain(): Promise<void> {
    this.sending ??= this.sendSpooled().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  /**
   * Stops the timer, flushes what was counted, and tries for up to timeoutMs to send what is spooled. What is not
   * sent stays in the spool for the next start. Returns how many batches remain.
   */
  async stop(timeoutMs: number): Promise<number> {
    clearTimeout(this.timer);
    this.flush();
    const deadline = this.now() + timeoutMs;
    while (this.now() < deadline) {
      await Promise.race([
        this.drain(),
        new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - this.now()))),
      ]);
      if (this.options.spool.list().length === 0 || this.failing) break;
    }
    return this.options.spool.list().length;
  }

  private async sendSpooled(): Promise<void> {
    const { spool, sink, logger } = this.options;
    for (const name of spool.list()) {
      try {
        const result = await sink.send(spool.read(name));
        const rejected = result.rejected[0];
        if (rejected !== undefined) {
          // The meter makes only events the ingest rules take, so a rejection is the receiver's refusal (a token for
          // another server): the batch stays, to be sent again once that is fixed; its accepted events are then
          // duplicates.
          const count = result.rejected.length + (result.rejected_omitted ?? 0);
          throw new Error(`the receiver rejected ${count} of its events: ${rejected.reason}`);
        }
        spool.remove(name);
        logger.debug({ batch: name, accepted: result.accepted, duplicates: result.duplicates }, "batch sent");
        if (this.failing) {
          this.failing = false;
          logger.info({ to: sink.describe() }, `sending to ${sink.describe()} again`);
        }
      } catch (error) {
        const waiting = spool.list().length;
        if (!this.failing) {
          logger.warn(
            { to: safeDescribe(sink), waiting, spool: spool.dir, reason: messageOf(error) },
            `cannot send counts (${messageOf(error)}); ${waiting} batches wait in ${spool.dir}, retried every flush`,
          );
        }
        this.failing = true;
        return;
      }
    }
  }
}

/** The next multiple of the interval after `from`, or the next hour if that comes first. */
export function nextFlushBoundary(from: number, step: number): number {
  const next = (Math.floor(from / step) + 1) * step;
  const hour = (Math.floor(from / HOUR_MS) + 1) * HOUR_MS;
  return Math.min(next, hour);
}

function safeDescribe(sink: EventSink): string {
  try {
    return sink.describe();
  } catch (error) {
    return messageOf(error);
  }
}
