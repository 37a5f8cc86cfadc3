// The JetStream part of bench:ingest: publish N events to a stream of the run's own (in this process, through the
// publisher `tally ingest --to` uses), then a fresh `tally serve --consume` stores them into SQLite or PostgreSQL.
// Each rate is timed on its own: publishing until the broker has acknowledged every message, consuming from the
// node's start until its /metrics count every event. The same run's HTTP rate is the baseline.

import { randomUUID } from "node:crypto";
import { connect } from "nats";
import { EventPublisher } from "../src/broker/publish-events.js";
import { progress, startTally } from "./harness.js";
import { fmt, ndjsonLine, Workload } from "./workload.js";

export interface JetStreamRun {
  readonly store: "sqlite" | "postgres";
  readonly events: number;
  readonly publishSeconds: number;
  readonly consumeSeconds: number;
  /** Events the node counted as accepted, duplicate and rejected. */
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
}

/** Publishes `events` workload events and has a node started with `storeArgs` consume them. */
export async function runJetStream(options: {
  readonly store: "sqlite" | "postgres";
  readonly storeArgs: readonly string[];
  readonly events: number;
  readonly seed: number;
  readonly natsUrl: string;
}): Promise<JetStreamRun> {
  const tag = randomUUID().replaceAll("-", "").slice(0, 12);
  const stream = `BENCH_${tag}`;
  const prefix = `tally-bench.${tag}`;
  const workload = new Workload({ seed: options.seed, ids: "v4" });
  const lines: Buffer[] = new Array(options.events);
  for (let i = 0; i < options.events; i++) lines[i] = Buffer.from(ndjsonLine(workload.next()).trimEnd());
  progress(`JetStream into ${options.store}: publishing ${fmt(options.events)} events to stream ${stream}`);
  const publisher = await EventPublisher.open(options.natsUrl, { stream, subjectPrefix: prefix });
  let publishSeconds: number;
  try {
    const t0 = performance.now();
    for (let i = 0; i < lines.length; i += 10_000) {
      const outcome = await publisher.publish(lines.slice(i, i + 10_000));
      if (outcome.rejected.length > 0) throw new Error(`the publisher refused: ${outcome.rejected[0]?.reason}`);
    }
    publishSeconds = (performance.now() - t0) / 1000;
  } finally {
    await publisher.close();
  }
  try {
    progress(`JetStream into ${options.store}: consuming`);
    const t0 = performance.now();
    const server = await startTally({
      args: [...options.storeArgs, "--consume", options.natsUrl, "--stream", stream, "--subject-prefix", prefix],
    });
    try {
      for (;;) {
        const counts = await jetstreamCounts(server.url);
        if (counts.accepted + counts.duplicates + counts.rejected >= options.events) {
          return {
            store: options.store,
            events: options.events,
            publishSeconds,
            consumeSeconds: (performance.now() - t0) / 1000,
            ...counts,
          };
        }
        const died = server.died();
        if (died) throw new Error(died);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await server.stop();
    }
  } finally {
    const nc = await connect({ servers: options.natsUrl });
    await (await nc.jetstreamManager()).streams.delete(stream).catch(() => false);
    await nc.close();
  }
}

/** The node's JetStream counts, from /metrics (read without a token: loopback). */
async function jetstreamCounts(url: string): Promise<{ accepted: number; duplicates: number; rejected: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (outcome: string) => {
    const series = `tally_events_total{source="jetstream",outcome="${outcome}"} `;
    const line = text.split("\n").find((l) => l.startsWith(series));
    return line === undefined ? 0 : Number(line.slice(series.length));
  };
  return { accepted: read("accepted"), duplicates: read("duplicate"), rejected: read("rejected") };
}
