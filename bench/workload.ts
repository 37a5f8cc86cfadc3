// The benchmark workload: a deterministic, seeded stream of usage events that looks like a storage service.
//
// 10 servers, 10,000 accounts with a Zipf-like popularity. About 85% of events are counters: each simulated
// request emits requests.<method> and, for reads and writes, bytes.out or bytes.in. About 15% are level
// readings: every server scans the accounts it holds, in turn, and reports storage.bytes and storage.files.
// Simulated time advances by a fixed mean rate (so a smaller run is a prefix of a larger one with the same seed),
// and a quarter of the events carry a time up to two minutes (1% up to ten minutes) before the moment they are
// emitted, so the stream is roughly, not strictly, in time order. Half the servers send epoch milliseconds, the
// other half RFC 3339. Event ids are random UUIDv4 (crypto.randomUUID) or time-ordered UUIDv7.

import crypto from "node:crypto";

export type IdKind = "v4" | "v7";

/**
 * The shapes of stream a user sends: how many events are level readings, and how their times run. `late` is the
 * mixed stream described above; `ordered` gives every event the moment it is emitted; `spread` a time at random
 * over the hour before it (a backfill, or meters that batch their reports).
 */
export const SHAPES = {
  mixed: { levelShare: 0.15, times: "late", label: "15% levels, some minutes late" },
  "counters-spread": { levelShare: 0, times: "spread", label: "counters only, spread over the last hour" },
  "third-levels-ordered": { levelShare: 1 / 3, times: "ordered", label: "a third levels, in time order" },
  "third-levels-spread": { levelShare: 1 / 3, times: "spread", label: "a third levels, spread over the last hour" },
  "levels-ordered": { levelShare: 1, times: "ordered", label: "levels only, in time order" },
  "levels-spread": { levelShare: 1, times: "spread", label: "levels only, spread over the last hour" },
} as const satisfies Record<string, { levelShare: number; times: "late" | "ordered" | "spread"; label: string }>;
export type Shape = keyof typeof SHAPES;

/** Parses a comma-separated list of shapes ("all" for every one). */
export function parseShapes(text: string): Shape[] {
  if (text.trim() === "all") return Object.keys(SHAPES) as Shape[];
  const shapes = text.split(",").map((s) => s.trim());
  for (const s of shapes) {
    if (!(s in SHAPES)) throw new Error(`unknown shape "${s}": one of ${Object.keys(SHAPES).join(", ")}, or all`);
  }
  return shapes as Shape[];
}

export interface WorkloadOptions {
  readonly seed: number;
  readonly ids: IdKind;
  readonly servers?: number;
  readonly accounts?: number;
  /** Mean events per simulated hour: 40,000 puts 2,000,000 events over about two days. */
  readonly eventsPerHour?: number;
  /** The stream's shape (SHAPES): the share of level readings and how the times run. */
  readonly shape?: Shape;
  /** Simulated time of the first event, epoch ms. */
  readonly startMs?: number;
}

export interface WorkloadEvent {
  readonly id: string;
  readonly server: string;
  /** Epoch ms (a number) or RFC 3339 text, as the sending server formats it. */
  readonly time: number | string;
  readonly account: string;
  readonly metric: string;
  readonly value: number;
}

export const DEFAULT_START_MS = Date.UTC(2025, 2, 1);
export const COUNTER_METRICS = new Set([
  "requests.get",
  "requests.put",
  "requests.head",
  "requests.post",
  "requests.delete",
  "requests.other",
  "bytes.in",
  "bytes.out",
]);

/** The kind Tally gives each metric the workload uses. */
export function kindOf(metric: string): "counter" | "level" {
  return COUNTER_METRICS.has(metric) ? "counter" : "level";
}

/** sfc32, seeded through splitmix32: fast, 32-bit, good enough for a workload. */
export function seededRandom(seed: number): { next: () => number; u32: () => number } {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const u32 = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  return { u32, next: () => u32() / 4294967296 };
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, a 12-bit counter in rand_a that keeps ids
 * monotonic within a millisecond (method 1), the variant, and 62 random bits.
 */
export class UuidV7 {
  private lastMs = -1;
  private counter = 0;

  constructor(private readonly u32: () => number) {}

  next(ms: number): string {
    let t = Math.floor(ms);
    if (t <= this.lastMs) {
      t = this.lastMs;
      this.counter++;
      if (this.counter > 0xfff) {
        t = ++this.lastMs;
        this.counter = 0;
      }
    } else {
      this.lastMs = t;
      this.counter = this.u32() & 0x3ff; // random start, with room to count up
    }
    const time = hex(t, 12);
    const r1 = this.u32();
    const r2 = this.u32();
    return (
      `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hex(this.counter, 3)}-` +
      `${hex(0x8000 | (r1 & 0x3fff), 4)}-${hex(r1 >>> 16, 4)}${hex(r2, 8)}`
    );
  }
}

const METHODS: readonly [string, number][] = [
  ["get", 0.55],
  ["put", 0.2],
  ["head", 0.12],
  ["delete", 0.05],
  ["post", 0.05],
  ["other", 0.03],
];
/** Counter events per request: one requests.* plus bytes.out for a get and bytes.in for a put or post. */
const COUNTERS_PER_REQUEST = 1 + 0.55 + 0.2 + 0.05;

export class Workload {
  readonly servers: readonly string[];
  readonly accounts: readonly string[];
  private readonly rnd: ReturnType<typeof seededRandom>;
  private readonly v7: UuidV7;
  private readonly ids: IdKind;
  private readonly accountCdf: Float64Array;
  private readonly accountRank: Int32Array;
  /** (server, account) pairs whose storage a server reports, in scan order, with their current levels. */
  private readonly holdings: { server: number; account: number; bytes: number; files: number }[] = [];
  private scan = 0;
  private readonly meanGapMs: number;
  private readonly readingProbability: number;
  private readonly times: "late" | "ordered" | "spread";
  private now: number;
  private readonly pending: WorkloadEvent[] = [];
  private pendingAt = 0;

  constructor(options: WorkloadOptions) {
    const servers = options.servers ?? 10;
    const accounts = options.accounts ?? 10_000;
    this.rnd = seededRandom(options.seed);
    // Its own stream, so that both kinds of ids come with exactly the same events.
    this.v7 = new UuidV7(seededRandom(options.seed ^ 0x5eed_0007).u32);
    this.ids = options.ids;
    this.now = options.startMs ?? DEFAULT_START_MS;
    this.meanGapMs = 3_600_000 / (options.eventsPerHour ?? 40_000);
    // A reading emits two level events, a request COUNTERS_PER_REQUEST counter events on average.
    const shape = SHAPES[options.shape ?? "mixed"];
    this.times = shape.times;
    const f = shape.levelShare;
    this.readingProbability = (COUNTERS_PER_REQUEST * f) / (2 - 2 * f + COUNTERS_PER_REQUEST * f);
    this.servers = Array.from({ length: servers }, (_, i) => `store-${hex(i, 2)}.dc${1 + (i % 3)}.example.org`);
    this.accounts = Array.from({ length: accounts }, (_, i) => `tenant-${String(i).padStart(6, "0")}`);
    // Zipf (s = 1) over a seeded permutation of the accounts: a few accounts make most of the requests.
    const order = Array.from({ length: accounts }, (_, i) => i);
    for (let i = accounts - 1; i > 0; i--) {
      const j = Math.floor(this.rnd.next() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    this.accountCdf = new Float64Array(accounts);
    this.accountRank = new Int32Array(order);
    let total = 0;
    for (let k = 0; k < accounts; k++) {
      total += 1 / (k + 1);
      this.accountCdf[k] = total;
    }
    for (let k = 0; k < accounts; k++) (this.accountCdf[k] as number) /= total;
    // Each account's data lives on two servers, and each of them reports it.
    for (let a = 0; a < accounts; a++) {
      const home = a % servers;
      const other = (home + 1 + (Math.floor(a / servers) % (servers - 1))) % servers;
      for (const server of [home, other]) {
        const bytes = Math.floor(Math.exp(20 + 3 * this.gaussian()));
        this.holdings.push({
          server,
          account: a,
          bytes: Math.min(bytes, 2 ** 50),
          files: Math.max(1, Math.floor(bytes / 4e6)),
        });
      }
    }
  }

  /** The next event of the stream. */
  next(): WorkloadEvent {
    // Bounded: every pass through the loop below emits at least one event.
    if (this.pendingAt >= this.pending.length) this.emit();
    return this.pending[this.pendingAt++] as WorkloadEvent;
  }

  private emit(): void {
    this.pending.length = 0;
    this.pendingAt = 0;
    if (this.rnd.next() < this.readingProbability) {
      this.advance(2);
      const h = this.holdings[this.scan] as (typeof this.holdings)[number];
      this.scan = (this.scan + 1) % this.holdings.length;
      // Storage drifts: mostly slow growth, sometimes a clean-up.
      const drift = this.rnd.next() < 0.05 ? 0.5 + 0.5 * this.rnd.next() : 0.99 + 0.03 * this.rnd.next();
      h.bytes = Math.min(2 ** 50, Math.floor(h.bytes * drift) + Math.floor(this.rnd.next() * 1e6));
      h.files = Math.max(0, Math.floor(h.files * drift) + Math.floor(this.rnd.next() * 10));
      const time = this.eventTime();
      this.push(h.server, h.account, "storage.bytes", h.bytes, time);
      this.push(h.server, h.account, "storage.files", h.files, time);
      return;
    }
    const method = this.method();
    const events = 1 + (method === "get" || method === "put" || method === "post" ? 1 : 0);
    this.advance(events);
    const account = this.account();
    const server = Math.floor(this.rnd.next() * this.servers.length);
    const time = this.eventTime();
    this.push(server, account, `requests.${method}`, 1, time);
    if (events === 2) {
      const size = Math.min(5e9, Math.floor(Math.exp(11 + 2 * this.gaussian())));
      this.push(server, account, method === "get" ? "bytes.out" : "bytes.in", size, time);
    }
  }

  private push(server: number, account: number, metric: string, value: number, time: number): void {
    const name = this.servers[server] as string;
    this.pending.push({
      id: this.ids === "v4" ? crypto.randomUUID() : this.v7.next(this.now),
      server: name,
      time: server % 2 === 0 ? time : new Date(time).toISOString(),
      account: this.accounts[account] as string,
      metric,
      value,
    });
  }

  private advance(events: number): void {
    this.now += -Math.log(1 - this.rnd.next()) * this.meanGapMs * events;
  }

  /** When the measurement was taken, by the shape: now, a little earlier for a quarter, or within the last hour. */
  private eventTime(): number {
    const now = Math.floor(this.now);
    if (this.times === "ordered") return now;
    if (this.times === "spread") return now - Math.floor(this.rnd.next() * 3_600_000);
    const u = this.rnd.next();
    if (u < 0.01) return now - Math.floor(this.rnd.next() * 600_000);
    if (u < 0.25) return now - Math.floor(this.rnd.next() * 120_000);
    return now;
  }

  private method(): string {
    let u = this.rnd.next();
    for (const [name, p] of METHODS) {
      if (u < p) return name;
      u -= p;
    }
    return "other";
  }

  private account(): number {
    const u = this.rnd.next();
    let lo = 0;
    let hi = this.accountCdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.accountCdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return this.accountRank[lo] as number;
  }

  private gaussian(): number {
    const u = 1 - this.rnd.next();
    const v = this.rnd.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** The simulated clock: how far the stream has got. */
  get clock(): number {
    return this.now;
  }
}

/** One NDJSON line (with its newline). The workload's names need no escaping. */
export function ndjsonLine(e: WorkloadEvent): string {
  const time = typeof e.time === "number" ? e.time : `"${e.time}"`;
  return `{"id":"${e.id}","server":"${e.server}","time":${time},"account":"${e.account}","metric":"${e.metric}","value":${e.value}}\n`;
}

/** Reads an integer from the environment, accepting 2_000_000 or 2e6. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw.replaceAll("_", ""));
  if (!Number.isFinite(n) || n < 0 || !Number.isInteger(n))
    throw new Error(`${name} must be a whole number, not ${raw}`);
  return n;
}

/** 1234567 → "1,234,567". */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
