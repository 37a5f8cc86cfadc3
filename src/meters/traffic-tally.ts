// The proxy's counts, per account, since the last flush: requests by method and body bytes in and out. A flush takes
// them and starts afresh; bytes of a transfer that spans flushes are counted in the interval they moved in.

export const METHOD_METRICS = {
  GET: "requests.get",
  PUT: "requests.put",
  HEAD: "requests.head",
  POST: "requests.post",
  DELETE: "requests.delete",
} as const;

const OTHER = "requests.other";

export interface AccountTraffic {
  readonly requests: Map<string, bigint>;
  bytesIn: bigint;
  bytesOut: bigint;
}

/** One flush's counts: account → traffic. */
export type TrafficSnapshot = ReadonlyMap<string, AccountTraffic>;

export class TrafficTally {
  private counts = new Map<string, AccountTraffic>();

  private entry(account: string): AccountTraffic {
    let entry = this.counts.get(account);
    if (entry === undefined) {
      entry = { requests: new Map(), bytesIn: 0n, bytesOut: 0n };
      this.counts.set(account, entry);
    }
    return entry;
  }

  request(account: string, method: string): void {
    const metric = (METHOD_METRICS as Record<string, string>)[method] ?? OTHER;
    const requests = this.entry(account).requests;
    requests.set(metric, (requests.get(metric) ?? 0n) + 1n);
  }

  bytesIn(account: string, bytes: number): void {
    this.entry(account).bytesIn += BigInt(bytes);
  }

  bytesOut(account: string, bytes: number): void {
    this.entry(account).bytesOut += BigInt(bytes);
  }

  /** Adds counts taken earlier back (a flush that could not be written). */
  merge(snapshot: TrafficSnapshot): void {
    for (const [account, traffic] of snapshot) {
      const entry = this.entry(account);
      for (const [metric, count] of traffic.requests)
        entry.requests.set(metric, (entry.requests.get(metric) ?? 0n) + count);
      entry.bytesIn += traffic.bytesIn;
      entry.bytesOut += traffic.bytesOut;
    }
  }

  /** The counts so far, leaving the tally empty. */
  take(): TrafficSnapshot {
    const taken = this.counts;
    this.counts = new Map();
    return taken;
  }
}

export interface CounterEvent {
  readonly id: string;
  readonly server: string;
  readonly time: number;
  readonly account: string;
  readonly metric: string;
  readonly value: string;
}

/**
 * One flush's counter events, zeros left out. The ids name the run, the flush and the place in it: sending the batch
 * again gives duplicates, never a second count, and no two runs or flushes share an id.
 */
export function trafficEvents(
  snapshot: TrafficSnapshot,
  batch: { readonly server: string; readonly run: string; readonly sequence: number; readonly time: number },
): CounterEvent[] {
  const events: CounterEvent[] = [];
  const push = (account: string, metric: string, value: bigint) => {
    if (value === 0n) return;
    events.push({
      id: `${batch.run}.${batch.sequence}.${events.length}`,
      server: batch.server,
      time: batch.time,
      account,
      metric,
      value: value.toString(),
    });
  };
  for (const [account, traffic] of snapshot) {
    for (const [metric, count] of traffic.requests) push(account, metric, count);
    push(account, "bytes.in", traffic.bytesIn);
    push(account, "bytes.out", traffic.bytesOut);
  }
  return events;
}
