// Sums the requests of one range of a log by (hour, account) and turns the sums into counter events whose ids name
// the range: the same lines always give the same events with the same ids, so sending them again is a duplicate.

import { createHash } from "node:crypto";
import type { RawEvent } from "../domain/event.js";
import { BYTES_IN_SLOT, BYTES_OUT_SLOT, SWIFT_LOG_METRICS } from "./swift-log-line.js";

/** Where in which log the summed lines are: byte offsets in the stream (uncompressed), end excluded. */
export interface LogRange {
  /** The log's fingerprint (see swift-log-reader.ts). */
  readonly stream: string;
  readonly start: number;
  readonly end: number;
}

/** Counts and bytes stay exact numbers below this; beyond it a sum moves into a bigint. */
const SAFE = 2 ** 52;
const ID_LIMIT = 256;

class Sums {
  readonly values = new Float64Array(SWIFT_LOG_METRICS.length);
  big: bigint[] | null = null;
  constructor(
    readonly hour: number,
    readonly account: string,
  ) {}

  add(slot: number, value: number): void {
    const sum = (this.values[slot] as number) + value;
    if (sum < SAFE) {
      this.values[slot] = sum;
      return;
    }
    this.big ??= SWIFT_LOG_METRICS.map(() => 0n);
    this.big[slot] = (this.big[slot] as bigint) + BigInt(sum);
    this.values[slot] = 0;
  }

  total(slot: number): bigint {
    return BigInt(this.values[slot] as number) + (this.big?.[slot] ?? 0n);
  }
}

/** The sums of one range of a log, by hour and account. */
export class HourlyTally {
  private readonly byAccount = new Map<string, Sums[]>();
  private count = 0;
  private last: Sums | null = null;
  private requestCount = 0;

  /** Counts one request; the account is the one it names or, for none, the account unattributed requests go to. */
  add(hour: number, account: string, slot: number, bytesIn: number, bytesOut: number): void {
    let sums = this.last;
    if (sums === null || sums.hour !== hour || sums.account !== account) {
      // By account, then a short list of hours: no key string built per request.
      let hours = this.byAccount.get(account);
      if (hours === undefined) {
        hours = [];
        this.byAccount.set(account, hours);
      }
      sums = null;
      for (const s of hours) {
        if (s.hour === hour) {
          sums = s;
          break;
        }
      }
      if (sums === null) {
        sums = new Sums(hour, account);
        hours.push(sums);
        this.count++;
      }
      this.last = sums;
    }
    sums.add(slot, 1);
    if (bytesIn > 0) sums.add(BYTES_IN_SLOT, bytesIn);
    if (bytesOut > 0) sums.add(BYTES_OUT_SLOT, bytesOut);
    this.requestCount++;
  }

  get requests(): number {
    return this.requestCount;
  }

  get size(): number {
    return this.count;
  }

  /** One counter event for every (hour, account, metric) with a sum above zero. */
  events(range: LogRange, server: string): RawEvent[] {
    const events: RawEvent[] = [];
    for (const sums of [...this.byAccount.values()].flat()) {
      const time = new Date(sums.hour).toISOString();
      for (let slot = 0; slot < SWIFT_LOG_METRICS.length; slot++) {
        const total = sums.total(slot);
        if (total === 0n) continue;
        const metric = SWIFT_LOG_METRICS[slot] as string;
        events.push({
          id: swiftLogEventId(range, sums.hour, sums.account, metric),
          server,
          time,
          account: sums.account,
          metric,
          value: total <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(total) : total.toString(),
        });
      }
    }
    return events;
  }
}

/**
 * `swift-log:<stream>:<start>-<end>:<hour>:<metric>:<account>`; an account too long for an id is named by its hash.
 * Nothing else goes in: not the server (events are unique per server already), nor when the import ran.
 */
export function swiftLogEventId(range: LogRange, hour: number, account: string, metric: string): string {
  const hourText = new Date(hour).toISOString().slice(0, 13);
  const head = `swift-log:${range.stream}:${range.start}-${range.end}:${hourText}:${metric}:`;
  const id = head + account;
  if (Buffer.byteLength(id) <= ID_LIMIT) return id;
  return `${head}#${createHash("sha256").update(account).digest("base64url")}`;
}
