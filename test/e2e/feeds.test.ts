// Feeds and subscriptions between real `tally serve` processes on loopback: two storage nodes that subscribe to each
// other (a friendnet pair) and an aggregator that subscribes to both. Events go to the storage nodes while each
// process in turn is SIGKILLed and restarted; then the aggregator's usage table and io_sum, and each storage node's
// view of the other, must equal the sums of the events sent, exactly. A revoked capability stops answering and the
// subscriber says so.

import { afterAll, describe, expect, it } from "vitest";
import {
  type CliResult,
  freePort,
  freshStore,
  killAll,
  removeDir,
  runTally,
  STORES,
  TallyServer,
  type TestStore,
  tempDir,
} from "./helpers.js";

const ACCOUNTS = Array.from({ length: 8 }, (_, i) => `AUTH_f${i}`);
const BATCHES = 24;
const PER_BATCH = 150;
const START = Date.UTC(2026, 10, 2, 8);

interface Node {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  readonly store: TestStore;
  server: TallyServer;
}

const dirs: string[] = [];
const stores: TestStore[] = [];

afterAll(async () => {
  killAll();
  for (const dir of dirs) removeDir(dir);
  for (const store of stores) await store.drop();
});

async function startNode(name: string, kind: (typeof STORES)[number]): Promise<Node> {
  const dir = tempDir(`feeds-${name}`);
  dirs.push(dir);
  const store = await freshStore(kind);
  stores.push(store);
  const port = await freePort();
  const node = { name, dir, port, store, server: undefined as unknown as TallyServer };
  node.server = await start(node);
  return node;
}

/** On the node's own port every time, so that the URLs its subscribers hold keep working across restarts. */
function start(node: Omit<Node, "server">): Promise<TallyServer> {
  return TallyServer.start({
    dataDir: node.dir,
    args: ["--listen", `127.0.0.1:${node.port}`, ...node.store.args],
  });
}

async function cli(node: Node, args: readonly string[]): Promise<CliResult> {
  const result = await runTally([...args, "--url", node.server.url, "--data", node.dir]);
  if (result.code !== 0) throw new Error(`tally ${args.join(" ")} failed: ${result.stderr}`);
  return result;
}

async function share(node: Node, extra: readonly string[] = []): Promise<{ url: string; id: string }> {
  const shared = JSON.parse((await cli(node, ["feed", "share", "--json", ...extra])).stdout) as {
    feed: { id: string };
    url: string;
  };
  return { url: shared.url, id: shared.feed.id };
}

interface SubscriptionJson {
  name: string;
  url: string;
  state: string;
  lastError: string | null;
  lagEvents: number | null;
}

async function subscriptions(node: Node): Promise<SubscriptionJson[]> {
  return (JSON.parse((await cli(node, ["subscriptions", "--json"])).stdout) as { subscriptions: SubscriptionJson[] })
    .subscriptions;
}

/** Posts a batch until a node acknowledges it, waiting out restarts. */
async function send(node: Node, body: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    try {
      await node.server.postNdjson(body);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${node.name} never acknowledged a batch`);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface Expected {
  /** Latest storage.bytes per server and account. */
  readonly levels: Map<string, Map<string, bigint>>;
  /** requests.get summed per account. */
  readonly gets: Map<string, bigint>;
}

/** The batches for one server: levels with strictly rising times (the last sent is the current one) and counters. */
function batchesFor(server: string, expected: Expected): string[] {
  const levels = new Map<string, bigint>();
  expected.levels.set(server, levels);
  const bodies: string[] = [];
  let n = 0;
  for (let b = 0; b < BATCHES; b++) {
    const lines: string[] = [];
    for (let i = 0; i < PER_BATCH; i++, n++) {
      const account = ACCOUNTS[(n * 7 + b) % ACCOUNTS.length] as string;
      const time = new Date(START + n * 1000).toISOString();
      if (n % 3 === 0) {
        // Some levels beyond 2^53, sent as decimal strings.
        const value = BigInt(n) * (n % 2 === 0 ? 1_000_003n : 10n ** 15n + 7n);
        levels.set(account, value);
        lines.push(
          JSON.stringify({
            id: `${server}-${n}`,
            server,
            time,
            account,
            metric: "storage.bytes",
            value: value.toString(),
          }),
        );
      } else {
        const value = BigInt(n % 11) + 1n;
        expected.gets.set(account, (expected.gets.get(account) ?? 0n) + value);
        lines.push(
          JSON.stringify({ id: `${server}-${n}`, server, time, account, metric: "requests.get", value: Number(value) }),
        );
      }
    }
    bodies.push(`${lines.join("\n")}\n`);
  }
  return bodies;
}

interface UsageJson {
  rows: { account: string; by_server: Record<string, string>; total: string }[];
  servers: { id: string; last_heard: string | null }[];
  subscriptions?: SubscriptionJson[];
}

async function usage(node: Node): Promise<UsageJson> {
  const answer = await node.server.get("/usage?format=json&limit=1000&sort=account");
  if (answer.status !== 200) throw new Error(`/usage answered ${answer.status}`);
  return answer.body as UsageJson;
}

/** The usage table rows the events sent should give, for the servers a node should see. */
function expectedRows(expected: Expected, servers: readonly string[]) {
  return ACCOUNTS.map((account) => {
    const byServer: Record<string, string> = {};
    let total = 0n;
    for (const server of servers) {
      const v = expected.levels.get(server)?.get(account);
      if (v !== undefined) {
        byServer[server] = v.toString();
        total += v;
      }
    }
    return { account, by_server: byServer, total: total.toString() };
  }).sort((a, b) => (a.account < b.account ? -1 : 1));
}

async function ioSumGets(node: Node, account: string): Promise<string> {
  const begin = encodeURIComponent(new Date(START - 3_600_000).toISOString());
  const end = encodeURIComponent(new Date(START + 24 * 3_600_000).toISOString());
  const answer = await node.server.get(`/io_sum?account_id=${account}&begin_time=${begin}&end_time=${end}&format=json`);
  if (answer.status !== 200) throw new Error(`io_sum answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return String((answer.body as [unknown, Record<string, unknown>])[1].GET);
}

describe.each(STORES)("feeds and subscriptions between processes on %s", (kind) => {
  it("an aggregator and a friendnet pair see every event exactly once through kills and restarts; a revoked feed stops", async () => {
    const s1 = await startNode("s1", kind);
    const s2 = await startNode("s2", kind);
    const agg = await startNode("agg", kind);

    // The pair subscribes to each other's origin-only feeds; the aggregator to both storage nodes.
    const s1ForAgg = await share(s1, ["--note", "aggregator"]);
    const s2ForAgg = await share(s2, ["--note", "aggregator"]);
    const s1ForS2 = await share(s1);
    const s2ForS1 = await share(s2);
    expect(s1ForAgg.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${s1.port}/v1/feed/tfc_[A-Za-z0-9_-]{43}$`));
    await cli(agg, ["subscribe", s1ForAgg.url, "--name", "s1"]);
    await cli(agg, ["subscribe", s2ForAgg.url, "--name", "s2"]);
    await cli(s1, ["subscribe", s2ForS1.url, "--name", "s2"]);
    await cli(s2, ["subscribe", s1ForS2.url, "--name", "s1"]);
    // The capability never shows in a list.
    expect(JSON.stringify(await subscriptions(agg))).not.toMatch(/tfc_[A-Za-z0-9_-]{10}/);

    const expected: Expected = { levels: new Map(), gets: new Map() };
    const bodies1 = batchesFor("srv-1", expected);
    const bodies2 = batchesFor("srv-2", expected);

    // Send to both storage nodes while each process is killed and restarted in turn.
    const sending = (async () => {
      for (let b = 0; b < BATCHES; b++) {
        await Promise.all([send(s1, bodies1[b] as string), send(s2, bodies2[b] as string)]);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();
    const step = (what: string) =>
      process.env.TALLY_E2E_TRACE && process.stderr.write(`${new Date().toISOString()} ${what}\n`);
    for (const node of [s1, agg, s2, s1, agg]) {
      step(`kill ${node.name}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await node.server.kill()).toEqual({ code: null, signal: "SIGKILL" });
      await new Promise((resolve) => setTimeout(resolve, 200));
      node.server = await start(node);
    }
    await sending;
    step("sent");

    // Everything arrives, exactly: the aggregator sees both servers; each of the pair sees the other too.
    const both = expectedRows(expected, ["srv-1", "srv-2"]);
    for (const node of [agg, s1, s2]) {
      step(`wait ${node.name}`);
      await waitFor(`${node.name}'s usage table`, async () => {
        const rows = (await usage(node)).rows.map((r) => ({
          account: r.account,
          by_server: r.by_server,
          total: r.total,
        }));
        return JSON.stringify(rows) === JSON.stringify(both) ? rows : undefined;
      });
      expect(
        (await usage(node)).rows.map((r) => ({ account: r.account, by_server: r.by_server, total: r.total })),
      ).toEqual(both);
      for (const account of ACCOUNTS) expect(await ioSumGets(node, account)).toBe(String(expected.gets.get(account)));
    }
    const aggView = await usage(agg);
    expect(aggView.servers.map((s) => s.id)).toEqual(["srv-1", "srv-2"]);
    for (const s of aggView.servers) expect(s.last_heard).not.toBeNull();
    const live = await waitFor("live subscriptions", async () => {
      const list = await subscriptions(agg);
      return list.every((s) => s.state === "live" && s.lagEvents === 0) ? list : undefined;
    });
    expect(live.map((s) => s.name)).toEqual(["s1", "s2"]);
    // The page shows the subscriptions' health.
    const page = await fetch(`${agg.server.url}/usage`, { headers: agg.server.headers({ accept: "text/html" }) });
    const html = await page.text();
    expect(html).toContain("<h2>Subscriptions</h2>");
    expect(html).toMatch(/<th scope="row">s1<\/th><td>live<\/td>/);

    // An origin-only feed carries only the node's own server, though the node stores the other's events too.
    const direct = await fetch(`${s1ForAgg.url}?limit=10000&format=json`);
    const feedPage = (await direct.json()) as { events: { server: string }[] };
    expect(feedPage.events.length).toBe(BATCHES * PER_BATCH);
    expect(new Set(feedPage.events.map((e) => e.server))).toEqual(new Set(["srv-1"]));

    // Revoked: the URL answers 404 and the aggregator reports the subscription failing, saying why.
    await cli(s1, ["feed", "revoke", s1ForAgg.id]);
    expect((await fetch(s1ForAgg.url)).status).toBe(404);
    await send(
      s1,
      `${JSON.stringify({ id: "after-revoke", server: "srv-1", time: new Date(START).toISOString(), account: "AUTH_f0", metric: "requests.get", value: 1 })}\n`,
    );
    const failing = await waitFor("the revoked subscription to fail", async () => {
      const s = (await subscriptions(agg)).find((x) => x.name === "s1");
      return s?.state === "failing" ? s : undefined;
    });
    expect(failing.lastError).toMatch(/404.*unknown or revoked/);
    const table = await runTally(["subscriptions", "--url", agg.server.url, "--data", agg.dir]);
    expect(table.stdout).toMatch(/^s1\s+failing\s/m);
    // The other subscription goes on.
    expect((await subscriptions(agg)).find((x) => x.name === "s2")?.state).toBe("live");

    for (const node of [s1, s2, agg]) expect((await node.server.stop()).code).toBe(0);
  }, 240_000);
});
