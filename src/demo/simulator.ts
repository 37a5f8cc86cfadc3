// The demo: simulated storage servers and a few thousand accounts whose usage changes as you watch, sent through
// the same ingest path as real meters (ingestEvents), so every view shows what it would show for real data.

import { randomBytes } from "node:crypto";
import type { Backend } from "../backend/backend.js";
import { HOUR_MS, hourOf } from "../domain/time.js";
import { ingestEvents } from "../ingest/ingest-events.js";
import type { BatchItem } from "../ingest/parse-body.js";
import type { Logger } from "../log/logger.js";
import type { Petname } from "../petnames/petname-store.js";

export interface DemoOptions {
  readonly accounts?: number;
  /** Hours of history made up at start, so charts have something to show. */
  readonly backfillHours?: number;
  /** How often the live servers report. */
  readonly tickMs?: number;
  readonly seed?: number;
  readonly now?: () => number;
}

export interface DemoAccount {
  readonly id: string;
  readonly petname: string | null;
  /** Per server it lives on: bytes and files now. */
  readonly holdings: Map<string, { bytes: bigint; files: bigint }>;
  /** Requests per hour, roughly. */
  readonly activity: number;
}

/** Servers that report live; the last one reports only its history, then falls silent and turns stale. */
export const DEMO_SERVERS = ["demo-ams-1", "demo-fra-2", "demo-lon-3", "demo-nyc-4", "demo-tape-5"] as const;
const LIVE_SERVERS = DEMO_SERVERS.slice(0, -1);

const FIRST = [
  "Alice",
  "Bob",
  "Carol",
  "Dave",
  "Erin",
  "Frank",
  "Grace",
  "Heidi",
  "Ivan",
  "Judy",
  "Mallory",
  "Niaj",
  "Olivia",
  "Peggy",
  "Rupert",
  "Sybil",
  "Trent",
  "Victor",
  "Walter",
  "Zoë",
];
const LAST = ["Photos", "Backups", "Music", "Lab", "Family", "Archive", "Studio", "Thesis", "Team", "Videos"];

/** A small seeded generator (mulberry32): the same accounts every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeAccounts(count: number, random: () => number): DemoAccount[] {
  const accounts: DemoAccount[] = [];
  for (let i = 0; i < count; i++) {
    const id = `acct-${Math.floor(random() * 0xffffffff)
      .toString(16)
      .padStart(8, "0")}${i.toString(36).padStart(3, "0")}`;
    const petname = random() < 0.4 ? `${FIRST[i % FIRST.length]}'s ${LAST[Math.floor(random() * LAST.length)]}` : null;
    const holdings = new Map<string, { bytes: bigint; files: bigint }>();
    const servers = 1 + Math.floor(random() * 3);
    // Sizes spread over six orders of magnitude, as real accounts do: a few KiB to a few TiB.
    const size = 10 ** (3 + random() * 9.5);
    for (let s = 0; s < servers; s++) {
      const server = DEMO_SERVERS[Math.floor(random() * DEMO_SERVERS.length)] as string;
      const bytes = BigInt(Math.round(size * (0.3 + random())));
      holdings.set(server, { bytes, files: bytes / BigInt(20_000 + Math.floor(random() * 2_000_000)) + 1n });
    }
    accounts.push({ id, petname, holdings, activity: Math.floor(random() ** 3 * 5000) });
  }
  return accounts;
}

export interface RunningDemo {
  /** Settles when the history is in the store. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export function startDemo(backend: Backend, logger: Logger, options: DemoOptions = {}): RunningDemo {
  const now = options.now ?? Date.now;
  const random = seeded(options.seed ?? 468);
  const accounts = makeAccounts(options.accounts ?? 3000, random);
  const run = randomBytes(4).toString("hex");
  let seq = 0;
  const nextId = () => `demo-${run}-${(seq++).toString(36)}`;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  // Small batches, and a turn of the event loop after each: SQLite works synchronously, and the pages must
  // stay quick while the history goes in.
  const send = async (items: BatchItem[]) => {
    for (let i = 0; i < items.length; i += 2000) {
      const result = await ingestEvents(backend.events, items.slice(i, i + 2000));
      if (result.rejected.length > 0) logger.warn({ rejected: result.rejected.slice(0, 3) }, "demo events rejected");
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const level = (server: string, account: string, metric: string, value: bigint, time: number): BatchItem => ({
    raw: { id: nextId(), server, time, account, metric, value: value.toString() },
  });
  const counter = (server: string, account: string, metric: string, value: number, time: number): BatchItem => ({
    raw: { id: nextId(), server, time, account, metric, value },
  });

  /** Counters for one account in one stretch of time: requests and the bytes they moved. */
  const traffic = (items: BatchItem[], a: DemoAccount, server: string, time: number, share: number) => {
    const requests = Math.round(a.activity * share * (0.5 + random()));
    if (requests === 0) return;
    const gets = Math.round(requests * 0.7);
    items.push(counter(server, a.id, "requests.get", gets, time));
    items.push(counter(server, a.id, "requests.put", requests - gets, time));
    items.push(counter(server, a.id, "bytes.out", gets * Math.floor(20_000 + random() * 500_000), time));
    items.push(counter(server, a.id, "bytes.in", (requests - gets) * Math.floor(20_000 + random() * 300_000), time));
  };

  const backfill = async () => {
    const hours = options.backfillHours ?? 48;
    const end = now();
    const start = hourOf(end) - hours * HOUR_MS;
    const names: Petname[] = accounts.flatMap((a) => (a.petname ? [{ account: a.id, name: a.petname }] : []));
    const known = await backend.petnames.get(names.map((p) => p.account));
    await backend.petnames.set(names.filter((p) => !known.has(p.account)));
    // Each account grew to its size over the hours shown: a reading every few hours (the rollups hold a level
    // between readings), hourly counters for the busy accounts and a few a day for the rest. Kept to a few
    // hundred thousand events, so the history is in within seconds.
    for (let h = 0; h <= hours && !stopped; h++) {
      const items: BatchItem[] = [];
      const time = Math.min(end - 1000, start + h * HOUR_MS + Math.floor(random() * 50 * 60_000));
      const progress = 0.55 + (0.45 * h) / hours;
      for (const a of accounts) {
        const servers = [...a.holdings.keys()];
        if (h % 4 === 0 || h === hours) {
          for (const server of servers) {
            const holding = a.holdings.get(server) as { bytes: bigint; files: bigint };
            const bytes = BigInt(Math.round(Number(holding.bytes) * progress));
            items.push(level(server, a.id, "storage.bytes", bytes, time));
            if (h === hours) items.push(level(server, a.id, "storage.files", holding.files, time));
          }
        }
        const server = servers.find((s) => s !== "demo-tape-5");
        if (server !== undefined && (a.activity > 1500 || h % 6 === 0))
          traffic(items, a, server, time, a.activity > 1500 ? 1 : 6);
      }
      await send(items);
    }
  };

  /** One report from the live servers: some accounts store more or less, some make requests. */
  const tick = async () => {
    const time = now();
    const items: BatchItem[] = [];
    for (let i = 0; i < Math.max(5, accounts.length / 100); i++) {
      const a = accounts[Math.floor(random() * accounts.length)] as DemoAccount;
      const live = [...a.holdings.keys()].filter((s) => s !== "demo-tape-5");
      const server = live[Math.floor(random() * live.length)];
      if (server === undefined) continue;
      const holding = a.holdings.get(server) as { bytes: bigint; files: bigint };
      const change = 1 + (random() - 0.35) * 0.08;
      holding.bytes = BigInt(Math.max(0, Math.round(Number(holding.bytes) * change)));
      holding.files = holding.bytes / 250_000n + 1n;
      items.push(level(server, a.id, "storage.bytes", holding.bytes, time));
      items.push(level(server, a.id, "storage.files", holding.files, time));
      traffic(items, a, server, time, 1 / 360);
    }
    // Every live server reports each tick, so none of them looks stale.
    for (const server of LIVE_SERVERS) items.push(counter(server, "demo-monitor", "requests.head", 1, time));
    await send(items);
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      inFlight = tick()
        .catch((error: unknown) => logger.warn({ err: error }, "demo tick failed"))
        .finally(schedule);
    }, options.tickMs ?? 1000);
  };

  const ready = (async () => {
    const started = Date.now();
    await backfill();
    logger.info(
      { accounts: accounts.length, servers: DEMO_SERVERS.length, events: seq, ms: Date.now() - started },
      `demo: ${accounts.length} accounts on ${DEMO_SERVERS.length} simulated servers; usage now changes every second`,
    );
    schedule();
  })();
  inFlight = ready.catch((error: unknown) => logger.error({ err: error }, "demo failed to start"));

  return {
    ready,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await inFlight.catch(() => undefined);
    },
  };
}
