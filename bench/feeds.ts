// npm run bench:feeds: an aggregator catching up on one feed, against direct ingest of the same events, in one run.
//
//   node dist/bench/feeds.js [--events 2000000] [--batch 5000] [--page 10000]
//
// Baseline: the events go into a fresh SQLite store through the one ingest path (ingestEvents), a batch at a time, as
// POST /v1/events would give them. Then that store is served by `tally serve` in a process of its own, as a storage
// node would be, and a second fresh store in this process pulls its feed with the subscription puller, page by page,
// each page stored through the same ingest path with its cursor. Prints events/s for both and the ratio. Figures only: it never passes or
// fails on time, and a shared machine makes them noisy.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openSqliteBackend } from "../src/backend/sqlite.js";
import { feedUrl } from "../src/feeds/capability.js";
import { Puller } from "../src/feeds/puller.js";
import { shareFeed } from "../src/feeds/share-feed.js";
import { subscribe } from "../src/feeds/subscribe.js";
import { ingestEvents } from "../src/ingest/ingest-events.js";
import type { BatchItem } from "../src/ingest/parse-body.js";
import { createLogger } from "../src/log/logger.js";
import { startTally } from "./harness.js";

interface Options {
  events: number;
  batch: number;
  page: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { events: 2_000_000, batch: 5000, page: 10_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--events") options.events = Number(value);
    else if (flag === "--batch") options.batch = Number(value);
    else if (flag === "--page") options.page = Number(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  return options;
}

/** One batch of events as a client sends them: counters and levels over 10 servers and 10,000 accounts. */
function batch(first: number, count: number): BatchItem[] {
  const items: BatchItem[] = [];
  for (let n = first; n < first + count; n++) {
    const level = n % 4 === 0;
    items.push({
      raw: {
        id: `e-${n}`,
        server: `srv-${n % 10}`,
        time: Date.UTC(2026, 0, 1) + Math.floor(n / 10) * 1000,
        account: `AUTH_${(n * 7919) % 10_000}`,
        metric: level ? "storage.bytes" : n % 3 === 0 ? "bytes.in" : "requests.get",
        value: level ? `${n * 1000}` : (n % 97) + 1,
      },
    });
  }
  return items;
}

const options = parseArgs(process.argv.slice(2));
const logger = createLogger("warn");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-feeds-"));

try {
  const origin = await openSqliteBackend({ path: path.join(dir, "origin.sqlite") });
  const started = performance.now();
  for (let first = 0; first < options.events; first += options.batch) {
    const result = await ingestEvents(origin.events, batch(first, Math.min(options.batch, options.events - first)));
    if (result.accepted !== Math.min(options.batch, options.events - first))
      throw new Error("direct ingest refused events");
  }
  const directSeconds = (performance.now() - started) / 1000;

  const { capability } = await shareFeed(origin.feeds, {});
  const originStats = await origin.maintenance.stats();
  await origin.close();
  const server = await startTally({ args: ["--data", dir, "--store", `sqlite:${path.join(dir, "origin.sqlite")}`] });

  const aggregator = await openSqliteBackend({ path: path.join(dir, "aggregator.sqlite") });
  const subscription = await subscribe(aggregator.feeds, { url: feedUrl(server.url, capability) });
  const puller = new Puller(
    { feeds: aggregator.feeds, events: aggregator.events, logger },
    { pageEvents: options.page, waitSeconds: 1 },
  );
  const pullStarted = performance.now();
  puller.start();
  const last = String(options.events);
  for (;;) {
    if ((await aggregator.events.sourcePosition(subscription.id)) === last) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const pullSeconds = (performance.now() - pullStarted) / 1000;
  await puller.stop();
  const [o, a] = [originStats, await aggregator.maintenance.stats()];
  if (o.events !== a.events || o.rollups !== a.rollups) {
    throw new Error(
      `the aggregator has ${a.events} events and ${a.rollups} rollups, the origin ${o.events} and ${o.rollups}`,
    );
  }
  await server.stop();
  await aggregator.close();

  const rate = (seconds: number) => Math.round(options.events / seconds);
  process.stdout.write(
    [
      `events: ${options.events} (SQLite, batches of ${options.batch}, feed pages of ${options.page})`,
      `direct ingest (baseline): ${directSeconds.toFixed(1)} s, ${rate(directSeconds)} events/s`,
      `aggregator catching up on one feed: ${pullSeconds.toFixed(1)} s, ${rate(pullSeconds)} events/s`,
      `ratio to direct ingest: ${((100 * directSeconds) / pullSeconds).toFixed(0)}%`,
      `checked: both stores hold ${a.events} events and ${a.rollups} rollups`,
      "",
    ].join("\n"),
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
