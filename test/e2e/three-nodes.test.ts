// Three `tally serve` nodes on one PostgreSQL database, started at once (migrations run once, under their lock),
// taking events over HTTP and from one shared JetStream durable consumer, some sent to two nodes: every node answers
// the same usage table and the same swift-stats sums, exactly those the events make.

import { isDeepStrictEqual } from "node:util";
import { afterAll, afterEach, expect, it } from "vitest";
import { freshStore, killAll, removeDir, runTally, TallyServer, type TestStore, tempDir } from "./helpers.js";
import { deleteStreams, eventually, jetStreamNames, SHARED_NATS, writeFile } from "./nats.js";

const dirs: string[] = [];
let store: TestStore | undefined;
const streams: string[] = [];
afterEach(() => killAll());
afterAll(async () => {
  for (const d of dirs) removeDir(d);
  await store?.drop();
  await deleteStreams(SHARED_NATS, streams);
});

const ACCOUNTS = ["AUTH_n0", "AUTH_n1", "AUTH_n2", "AUTH_n3"];
const SERVERS = ["sa", "sb.rack 2", "sc"];
const RANGE = "begin_time=2026-11-23T12:00:00Z&end_time=2026-11-23T14:00:00Z";

/** Event n: a GET on server n mod 3 for account n mod 4; every 10th also a level reading whose last value wins. */
function events(from: number, to: number, tag: string): object[] {
  const out: object[] = [];
  for (let n = from; n < to; n++) {
    const account = ACCOUNTS[n % ACCOUNTS.length] as string;
    const server = SERVERS[n % SERVERS.length] as string;
    out.push({ id: `${tag}-${n}`, server, time: "2026-11-23T12:30:00Z", account, metric: "requests.get", value: 1 });
    if (n % 10 === 0) {
      const time = new Date(Date.UTC(2026, 10, 23, 12, 0, 0, n)).toISOString();
      out.push({ id: `${tag}-level-${n}`, server, time, account, metric: "storage.bytes", value: `${n}000000000000` });
    }
  }
  return out;
}

/** What the events make: GETs per account, and the last level per (account, server). */
function expected(all: readonly object[]): {
  gets: Record<string, number>;
  levels: Record<string, Record<string, string>>;
} {
  const gets: Record<string, number> = {};
  const latest: Record<string, Record<string, { time: string; value: string }>> = {};
  for (const e of all as { account: string; server: string; metric: string; time: string; value: unknown }[]) {
    if (e.metric === "requests.get") gets[e.account] = (gets[e.account] ?? 0) + 1;
    else {
      const row = latest[e.account] ?? {};
      latest[e.account] = row;
      const seen = row[e.server];
      if (seen === undefined || seen.time < e.time) row[e.server] = { time: e.time, value: String(e.value) };
    }
  }
  const levels = Object.fromEntries(
    Object.entries(latest).map(([a, row]) => [
      a,
      Object.fromEntries(Object.entries(row).map(([s, v]) => [s, v.value])),
    ]),
  );
  return { gets, levels };
}

async function view(
  node: TallyServer,
): Promise<{ gets: Record<string, number>; levels: Record<string, Record<string, string>> }> {
  const usage = (await node.get("/usage?format=json&metric=storage.bytes")).body as {
    rows: { account: string; by_server: Record<string, string> }[];
  };
  const gets: Record<string, number> = {};
  for (const account of ACCOUNTS) {
    const a = await node.get(`/io_sum?account_id=${account}&${RANGE}`);
    gets[account] = Number((a.body as [unknown, { GET: string }])[1].GET);
  }
  return { gets, levels: Object.fromEntries(usage.rows.map((r) => [r.account, r.by_server])) };
}

it("three nodes on one PostgreSQL, fed over HTTP and JetStream, some events twice, answer the same exactly", async () => {
  store = await freshStore("postgres");
  const names = jetStreamNames("three");
  streams.push(names.stream);
  const data = tempDir("three");
  dirs.push(data);
  const args = [...store.args, "--consume", SHARED_NATS, ...names.args, "--durable", names.durable, "--batch", "100"];
  // Started at once: one creates the schema and the first admin token, the others wait on the migration lock.
  const nodes = await Promise.all([0, 1, 2].map(() => TallyServer.start({ dataDir: data, args })));
  const tokenFiles = nodes.filter((n) => /created the first admin token/.test(n.output));
  expect(tokenFiles).toHaveLength(1);

  const http = events(0, 3_000, "http");
  const twice = events(3_000, 4_000, "twice");
  const broker = events(4_000, 7_000, "js");
  // HTTP to every node, a third each; the same events to two nodes at once; the rest through the broker.
  await Promise.all(nodes.map((node, i) => node.postNdjson(http.filter((_, k) => k % 3 === i))));
  const [a, b] = await Promise.all([nodes[0]?.postNdjson(twice), nodes[1]?.postNdjson(twice)]);
  expect((a?.accepted ?? 0) + (b?.accepted ?? 0)).toBe(twice.length);
  expect((a?.duplicates ?? 0) + (b?.duplicates ?? 0)).toBe(twice.length);
  const file = writeFile(data, "broker.ndjson", `${broker.map((e) => JSON.stringify(e)).join("\n")}\n`);
  const published = await runTally(["ingest", file, "--to", SHARED_NATS, ...names.args]);
  expect(published.stderr).toBe("");
  expect(published.stdout).toMatch(/^published 3300 events .*0 rejected/);

  const want = expected([...http, ...twice, ...broker]);
  for (const node of nodes)
    await eventually(
      () => view(node),
      (v) => isDeepStrictEqual(v, want),
      90_000,
    );
  const views = await Promise.all(nodes.map(view));
  for (const v of views) expect(v).toEqual(want);
  const tables = await Promise.all(
    nodes.map(async (n) => {
      const t = (await n.get("/usage?format=json&metric=storage.bytes")).body as Record<string, unknown>;
      return {
        ...t,
        as_of: undefined,
        servers: (t.servers as { last_heard?: unknown }[]).map(({ last_heard, ...s }) => s),
      };
    }),
  );
  expect(tables[1]).toEqual(tables[0]);
  expect(tables[2]).toEqual(tables[0]);
  for (const node of nodes) expect((await node.stop()).code).toBe(0);
}, 240_000);
