// The puller between in-process nodes over real HTTP: a chain A → B → C through a relay feed on B, an origin-only
// feed that leaves relayed events out, an unreachable upstream reported as failing while the others go on, and two
// nodes on one PostgreSQL store sharing a subscription, of which one pulls at a time.

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { afterEach, describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { openPostgresBackend } from "../backend/postgres.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createApp } from "../http/app.js";
import { ingestEvents } from "../ingest/ingest-events.js";
import type { IngestObservation } from "../ingest/ingest-observer.js";
import { createLogger } from "../log/logger.js";
import { freshSchema, TEST_POSTGRES_URL } from "../store/test-stores.js";
import { feedUrl } from "./capability.js";
import { Puller } from "./puller.js";
import { shareFeed } from "./share-feed.js";
import { subscribe } from "./subscribe.js";

const logger = createLogger("silent");
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function node(): Promise<{ backend: Backend; url: string; pull: () => Puller }> {
  const backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 64 });
  const app = createApp({ backend, logger, maxBodyBytes: 1 << 20, localReads: true, maxQueryDays: 366 });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let puller: Puller | undefined;
  cleanups.push(async () => {
    await puller?.stop();
    (server as Server).closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await backend.close();
  });
  return {
    backend,
    url,
    pull: () => {
      puller = new Puller(
        { feeds: backend.feeds, events: backend.events, logger },
        { pageEvents: 7, waitSeconds: 1, rescanMs: 100, minBackoffMs: 50, maxBackoffMs: 200 },
      );
      puller.start();
      return puller;
    },
  };
}

const events = (server: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    raw: {
      id: `${server}-${i}`,
      server,
      time: Date.UTC(2026, 0, 1, 0, i),
      account: "acct",
      metric: "bytes.in",
      value: i + 1,
    },
  }));

async function serverTotals(backend: Backend): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const s of await backend.usage.servers()) totals[s.server] = s.events;
  return totals;
}

async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the puller", () => {
  it("carries a chain A → B → C through B's relay feed; B's origin-only feed leaves A's events out", async () => {
    const [a, b, c, d] = [await node(), await node(), await node(), await node()];
    await ingestEvents(a.backend.events, events("srv-a", 30));
    await ingestEvents(b.backend.events, events("srv-b", 20));
    await subscribe(b.backend.feeds, { url: feedUrl(a.url, (await shareFeed(a.backend.feeds, {})).capability) });
    const relay = await shareFeed(b.backend.feeds, { relay: true });
    const origin = await shareFeed(b.backend.feeds, {});
    await subscribe(c.backend.feeds, { url: feedUrl(b.url, relay.capability), name: "b" });
    await subscribe(d.backend.feeds, { url: feedUrl(b.url, origin.capability), name: "b" });
    for (const n of [b, c, d]) n.pull();

    const want = { "srv-a": 30, "srv-b": 20 };
    await until(async () =>
      JSON.stringify(await serverTotals(c.backend)) === JSON.stringify(want) ? true : undefined,
    );
    // Events that arrive later travel the chain too.
    await ingestEvents(a.backend.events, events("srv-a", 35));
    await until(async () => ((await serverTotals(c.backend))["srv-a"] === 35 ? true : undefined));
    expect(await serverTotals(c.backend)).toEqual({ "srv-a": 35, "srv-b": 20 });
    await until(async () =>
      (await d.backend.feeds.listSubscriptions())[0]?.health.state === "live" ? true : undefined,
    );
    expect(await serverTotals(d.backend)).toEqual({ "srv-b": 20 });
    const health = (await c.backend.feeds.listSubscriptions())[0]?.health;
    expect(health).toMatchObject({ state: "live", lastError: null, lagEvents: 0 });
  });

  it("reports an unreachable upstream as failing, with the reason, and goes on with the others", async () => {
    const [a, b] = [await node(), await node()];
    await ingestEvents(a.backend.events, events("srv-a", 3));
    const dead = feedUrl("http://127.0.0.1:9", (await shareFeed(a.backend.feeds, {})).capability);
    await subscribe(b.backend.feeds, { url: dead, name: "dead" });
    await subscribe(b.backend.feeds, {
      url: feedUrl(a.url, (await shareFeed(a.backend.feeds, {})).capability),
      name: "a",
    });
    b.pull();
    const failing = await until(async () => {
      const s = (await b.backend.feeds.listSubscriptions()).find((x) => x.name === "dead");
      return s?.health.state === "failing" ? s : undefined;
    });
    expect(failing.health.lastError).toMatch(/^cannot reach 127\.0\.0\.1:9/);
    await until(async () => ((await serverTotals(b.backend))["srv-a"] === 3 ? true : undefined));
  });

  it("on one PostgreSQL store, lets one node pull a subscription at a time: every event stored once, none twice", async () => {
    const upstream = await node();
    await ingestEvents(upstream.backend.events, events("srv-u", 120));
    const schema = freshSchema();
    const nodes = [
      await openPostgresBackend({ url: TEST_POSTGRES_URL, schema }),
      await openPostgresBackend({ url: TEST_POSTGRES_URL, schema, dropSchemaOnClose: true }),
    ];
    const seen: IngestObservation[] = [];
    const pullers = nodes.map(
      (backend) =>
        new Puller(
          { feeds: backend.feeds, events: backend.events, logger, observer: { ingested: (o) => seen.push(o) } },
          { pageEvents: 7, waitSeconds: 1, rescanMs: 100, minBackoffMs: 50, maxBackoffMs: 200 },
        ),
    );
    cleanups.push(async () => {
      for (const p of pullers) await p.stop();
      for (const b of nodes) await b.close();
    });
    const capability = (await shareFeed(upstream.backend.feeds, {})).capability;
    await subscribe(nodes[0]?.feeds as Backend["feeds"], { url: feedUrl(upstream.url, capability), name: "u" });
    for (const p of pullers) p.start();
    await until(async () => ((await serverTotals(nodes[1] as Backend))["srv-u"] === 120 ? true : undefined));
    await ingestEvents(upstream.backend.events, events("srv-u", 150));
    await until(async () => ((await serverTotals(nodes[0] as Backend))["srv-u"] === 150 ? true : undefined));
    // A page the other node stored first is refused whole, before its events are written: no duplicates at all.
    expect(seen.reduce((n, o) => n + o.accepted, 0)).toBe(150);
    expect(seen.reduce((n, o) => n + o.duplicates, 0)).toBe(0);
  });
});
