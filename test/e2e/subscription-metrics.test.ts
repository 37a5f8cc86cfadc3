// Subscription state and lag on /metrics, between two real `tally serve` processes: a node subscribed to another's
// feed says, to a scraper holding a metrics token, that the subscription is live and caught up once the events have
// arrived, and that it is failing, and for how long it has been behind, once its upstream has stopped.

import { afterAll, describe, expect, it } from "vitest";
import { type CliResult, killAll, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

const dirs: string[] = [];
afterAll(() => {
  killAll();
  for (const dir of dirs) removeDir(dir);
});

async function startNode(name: string): Promise<TallyServer> {
  const dir = tempDir(`submetrics-${name}`);
  dirs.push(dir);
  return TallyServer.start({ dataDir: dir, args: ["--no-local-reads"] });
}

async function cli(node: TallyServer, args: readonly string[]): Promise<CliResult> {
  const result = await runTally([...args, "--url", node.url, "--data", node.dataDir]);
  if (result.code !== 0) throw new Error(`tally ${args.join(" ")} failed: ${result.stderr}`);
  return result;
}

/** Every sample of the text, keyed by its name and labels as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe("subscription metrics between two nodes", () => {
  it("shows a live, caught-up subscription, then a failing one falling behind, to a metrics token", async () => {
    const upstream = await startNode("upstream");
    const node = await startNode("node");
    const metricsToken = (
      await cli(node, ["token", "create", "--role", "metrics", "--note", "prometheus"])
    ).stdout.trim();
    const scrape = async (): Promise<Map<string, number>> => {
      const res = await fetch(`${node.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } });
      expect(res.status).toBe(200);
      return samples(await res.text());
    };
    // The scraper's token reads the metrics and nothing else.
    const usage = await fetch(`${node.url}/usage?format=json`, {
      headers: { Authorization: `Bearer ${metricsToken}` },
    });
    expect(usage.status).toBe(403);

    const shared = JSON.parse((await cli(upstream, ["feed", "share", "--json"])).stdout) as { url: string };
    await cli(node, ["subscribe", shared.url, "--name", "upstream"]);
    const events = Array.from({ length: 40 }, (_, i) => ({
      id: `m${i}`,
      server: "srv-up",
      time: new Date(Date.UTC(2026, 10, 2, 8) + i * 1000).toISOString(),
      account: `AUTH_${i % 4}`,
      metric: "requests.get",
      value: 1,
    }));
    expect((await upstream.postNdjson(events)).accepted).toBe(40);

    const live = await waitFor("a live subscription with every event", async () => {
      const m = await scrape();
      const stored = m.get('tally_events_total{source="subscription",outcome="accepted"}');
      return m.get('tally_subscription_state{subscription="upstream",state="live"}') === 1 && stored === 40
        ? m
        : undefined;
    });
    for (const state of ["new", "catching-up", "failing"])
      expect(live.get(`tally_subscription_state{subscription="upstream",state="${state}"}`)).toBe(0);
    expect(live.get('tally_subscription_lag_events{subscription="upstream"}')).toBe(0);
    expect(live.get('tally_subscription_lag_seconds{subscription="upstream"}')).toBe(0);
    const lastSuccess = live.get('tally_subscription_last_success_timestamp_seconds{subscription="upstream"}');
    expect(lastSuccess).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(lastSuccess).toBeLessThanOrEqual(Date.now() / 1000 + 1);

    await upstream.stop();
    const failing = await waitFor("a failing subscription, behind", async () => {
      const m = await scrape();
      return m.get('tally_subscription_state{subscription="upstream",state="failing"}') === 1 &&
        (m.get('tally_subscription_lag_seconds{subscription="upstream"}') ?? 0) > 0
        ? m
        : undefined;
    });
    expect(failing.get('tally_subscription_state{subscription="upstream",state="live"}')).toBe(0);
    // The last success stays where it was: nothing has been read since.
    expect(
      failing.get('tally_subscription_last_success_timestamp_seconds{subscription="upstream"}'),
    ).toBeGreaterThanOrEqual(lastSuccess as number);

    await cli(node, ["unsubscribe", "upstream"]);
    const gone = await scrape();
    expect([...gone.keys()].filter((k) => k.includes('subscription="upstream"'))).toEqual([]);
    await node.stop();
  }, 120_000);
});
