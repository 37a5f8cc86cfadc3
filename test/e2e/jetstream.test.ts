// NATS JetStream end to end: `tally ingest --to` publishes, `tally serve --consume` stores, with real nats-servers
// (the shared one, and ones of the test's own to stop and restart) and real `tally serve` processes killed mid-stream.

import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  freshStore,
  killAll,
  logMessage,
  removeDir,
  runTally,
  TallyServer,
  type TestStore,
  tempDir,
} from "./helpers.js";
import {
  counterEvents,
  deleteStreams,
  eventually,
  jetStreamNames as namesOnly,
  OwnNatsServer,
  SHARED_NATS,
  writeFile,
} from "./nats.js";

/** Names of the test's own, whose streams are deleted from the shared broker at the end. */
function jetStreamNames(label: string): ReturnType<typeof namesOnly> {
  const names = namesOnly(label);
  streams.push(names.stream);
  return names;
}

const dirs: string[] = [];
const stores: TestStore[] = [];
const brokers: OwnNatsServer[] = [];
afterEach(() => killAll());
afterAll(async () => {
  for (const d of dirs) removeDir(d);
  for (const s of stores) await s.drop();
  for (const b of brokers) await b.remove();
  await deleteStreams(SHARED_NATS, streams);
});
const streams: string[] = [];

function dir(label: string): string {
  const d = tempDir(label);
  dirs.push(d);
  return d;
}

const ACCOUNT = "AUTH_js";
const RANGE = "begin_time=2026-11-23T12:00:00Z&end_time=2026-11-23T13:00:00Z";

/** The account's GET requests across every server, as io_sum answers them. */
async function gets(tally: TallyServer, account = ACCOUNT): Promise<number> {
  const a = await tally.get(`/io_sum?account_id=${account}&${RANGE}`);
  if (a.status !== 200) throw new Error(`io_sum answered ${a.status}: ${JSON.stringify(a.body)}`);
  return Number((a.body as [unknown, { GET: string | number }])[1].GET);
}

async function metric(tally: TallyServer, series: string): Promise<number> {
  const a = await tally.get("/metrics");
  const line = String(a.body)
    .split("\n")
    .find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const JS_ACCEPTED = 'tally_events_total{source="jetstream",outcome="accepted"}';
const JS_DUPLICATE = 'tally_events_total{source="jetstream",outcome="duplicate"}';

async function health(tally: TallyServer): Promise<{ status: string; problems?: string[] }> {
  return (await tally.get("/healthz")).body as { status: string; problems?: string[] };
}

// A loaded machine takes a while over 20,000 events and broker restarts: no test passes or fails on speed.
describe("tally ingest --to and tally serve --consume", { timeout: 240_000 }, () => {
  it("publishes with (server, id) as the message id, so the broker drops a re-sent file, and stores every event once", async () => {
    const names = jetStreamNames("pub");
    const data = dir("js-pub");
    // Server names a subject token cannot hold as they are: dots, spaces, a wildcard, a percent sign, non-ASCII.
    const servers = ["swift.node-1", "rack 7 *", "a>b%2E", "nœud"];
    const file = writeFile(data, "events.ndjson", counterEvents(2_000, { account: ACCOUNT, servers, tag: "pub" }));
    const first = await runTally(["ingest", file, "--to", SHARED_NATS, ...names.args]);
    expect(first.stderr).toBe("");
    expect(first.stdout).toMatch(/2000 stored by the broker, 0 dropped by it as duplicates, 0 rejected/);
    const again = await runTally(["ingest", file, "--to", SHARED_NATS, ...names.args]);
    expect(again.stdout).toMatch(/0 stored by the broker, 2000 dropped by it as duplicates/);

    const tally = await TallyServer.start({
      dataDir: data,
      args: ["--consume", SHARED_NATS, ...names.args, "--durable", names.durable, "--batch", "300"],
    });
    await eventually(
      () => gets(tally),
      (n) => n === 2_000,
    );
    expect(await metric(tally, JS_ACCEPTED)).toBe(2_000);
    const labels = `{stream="${names.stream}",consumer="${names.durable}"}`;
    expect(await metric(tally, `tally_jetstream_consumer_up${labels}`)).toBe(1);
    await eventually(
      () => metric(tally, `tally_jetstream_consumer_pending${labels}`),
      (n) => n === 0,
    );
    expect(await health(tally)).toMatchObject({ status: "ok" });
    // A line without a server or id is refused by the publisher, by line number, and nothing of it is published.
    const bad = writeFile(data, "bad.ndjson", '{"id":"x"}\nnot json\n');
    const refused = await runTally(["ingest", bad, "--to", SHARED_NATS, ...names.args]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toMatch(/line 1 has no server/);
    expect(refused.stderr + refused.stdout).toMatch(/line 2 is not JSON/);
    await tally.stop();
  });

  it("refuses a broker URL that is not nats:// before serving anything", async () => {
    const data = dir("js-bad-url");
    const out = await runTally([
      "serve",
      "--data",
      data,
      "--listen",
      "127.0.0.1:0",
      "--consume",
      "http://127.0.0.1:4222",
    ]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/"http:\/\/127\.0\.0\.1:4222" is not a broker URL: give nats:\/\/HOST:PORT/);
    const noConsume = await runTally(["serve", "--data", data, "--durable", "x"]);
    expect(noConsume.stderr).toMatch(/--durable needs --consume/);
  });

  it("takes the stream, prefix, brokers, durable name and batch from TALLY_ variables, for publisher and consumer", async () => {
    const names = jetStreamNames("env");
    const data = dir("js-env");
    const env = { TALLY_STREAM: names.stream, TALLY_SUBJECT_PREFIX: names.prefix };
    const file = writeFile(
      data,
      "events.ndjson",
      counterEvents(500, { account: ACCOUNT, servers: ["s-env"], tag: "env" }),
    );
    const published = await runTally(["ingest", file, "--to", SHARED_NATS], { env });
    expect(published.stdout).toMatch(/500 stored by the broker/);
    const tally = await TallyServer.start({
      dataDir: data,
      env: { ...env, TALLY_CONSUME: SHARED_NATS, TALLY_DURABLE: names.durable, TALLY_BATCH: "100" },
    });
    await eventually(
      () => gets(tally),
      (n) => n === 500,
    );
    expect(
      await metric(tally, `tally_jetstream_consumer_up{stream="${names.stream}",consumer="${names.durable}"}`),
    ).toBe(1);
    await tally.stop();
    const bad = await runTally(["serve", "--data", data, "--listen", "127.0.0.1:0"], {
      env: { TALLY_CONSUME: SHARED_NATS, TALLY_BATCH: "0" },
    });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--batch "0" \(or TALLY_BATCH\) must be a whole number from 1 to 10000/);
  });

  it("loses and doubles nothing when the consuming tally serve is SIGKILLed mid-stream and started again", async () => {
    const names = jetStreamNames("kill");
    const data = dir("js-kill");
    const total = 20_000;
    const file = writeFile(
      data,
      "events.ndjson",
      counterEvents(total, { account: ACCOUNT, servers: ["s1", "s2"], tag: "kill" }),
    );
    const published = await runTally(["ingest", file, "--to", SHARED_NATS, ...names.args]);
    expect(published.stdout).toMatch(/20000 stored by the broker/);
    const args = ["--consume", SHARED_NATS, ...names.args, "--durable", names.durable, "--batch", "100"];
    const first = await TallyServer.start({ dataDir: data, args });
    const before = await eventually(
      () => metric(first, JS_ACCEPTED),
      (n) => n > 0,
    );
    await first.kill();
    expect(before).toBeLessThan(total);
    const second = await TallyServer.start({ dataDir: data, args });
    await eventually(
      () => gets(second),
      (n) => n === total,
    );
    // Still exact a moment later: nothing redelivered is counted again.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await gets(second)).toBe(total);
    expect(await metric(second, JS_ACCEPTED)).toBeLessThanOrEqual(total);
    await second.stop();
  });

  it("starts without its broker, says degraded, retries, catches up, and survives the broker's restart", async () => {
    const broker = await OwnNatsServer.create();
    brokers.push(broker);
    const names = jetStreamNames("restart");
    const data = dir("js-restart");
    const tally = await TallyServer.start({
      dataDir: data,
      args: ["--consume", broker.url, ...names.args, "--durable", names.durable, "--batch", "200"],
    });
    const warned = await tally.waitForLog(`JetStream consumer on ${broker.url} is not pulling`);
    expect(JSON.parse(warned)).toMatchObject({ level: 40, broker: broker.url });
    const down = await health(tally);
    expect(down.status).toBe("degraded");
    expect(down.problems?.[0]).toMatch(new RegExp(`JetStream consumer ${names.durable} on ${broker.url}`));

    await broker.start();
    const firstHalf = writeFile(
      data,
      "a.ndjson",
      counterEvents(1_000, { account: ACCOUNT, servers: ["s1"], tag: "r" }),
    );
    expect((await runTally(["ingest", firstHalf, "--to", broker.url, ...names.args])).stdout).toMatch(/1000 stored/);
    await eventually(
      () => gets(tally),
      (n) => n === 1_000,
    );
    await eventually(
      () => health(tally),
      (h) => h.status === "ok",
    );

    await broker.stop();
    await eventually(
      () => health(tally),
      (h) => h.status === "degraded",
      30_000,
    );
    expect(tally.output).toMatch(/is not pulling/);
    await broker.start();
    const secondHalf = writeFile(
      data,
      "b.ndjson",
      counterEvents(1_000, { first: 1_000, account: ACCOUNT, servers: ["s1"], tag: "r" }),
    );
    expect((await runTally(["ingest", secondHalf, "--to", broker.url, ...names.args])).stdout).toMatch(/1000 stored/);
    await eventually(
      () => gets(tally),
      (n) => n === 2_000,
      90_000,
    );
    await eventually(
      () => health(tally),
      (h) => h.status === "ok",
      30_000,
    );
    const exit = await tally.stop();
    expect(exit.code).toBe(0);
    expect(tally.output.split("\n").filter((l) => logMessage(l) === "unexpected error")).toEqual([]);
  });

  it("shares one durable consumer between two nodes on PostgreSQL, storing each event once", async () => {
    const store = await freshStore("postgres");
    stores.push(store);
    const names = jetStreamNames("share");
    const total = 6_000;
    const data = dir("js-share");
    const file = writeFile(
      data,
      "events.ndjson",
      counterEvents(total, { account: ACCOUNT, servers: ["s1", "s2", "s3"], tag: "share" }),
    );
    const args = [...store.args, "--consume", SHARED_NATS, ...names.args, "--durable", names.durable, "--batch", "50"];
    // One data directory for both: on PostgreSQL it holds only the admin token file the first start writes.
    const shared = dir("js-share-node");
    const first = await TallyServer.start({ dataDir: shared, args });
    const nodes = [first, await TallyServer.start({ dataDir: shared, args })];
    expect((await runTally(["ingest", file, "--to", SHARED_NATS, ...names.args])).stdout).toMatch(/6000 stored/);
    for (const node of nodes)
      await eventually(
        () => gets(node),
        (n) => n === total,
      );
    const shares = await Promise.all(nodes.map((n) => metric(n, JS_ACCEPTED)));
    const duplicates = await Promise.all(nodes.map((n) => metric(n, JS_DUPLICATE)));
    expect((shares[0] as number) + (shares[1] as number)).toBe(total);
    expect(duplicates).toEqual([0, 0]);
    for (const share of shares) expect(share).toBeGreaterThan(0);
    for (const node of nodes) await node.stop();
  });
});
