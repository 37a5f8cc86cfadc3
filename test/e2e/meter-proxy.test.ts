// The metering proxy end to end: the real `tally meter proxy` in front of a small object store, sending to a real
// `tally serve`. What Tally stores is compared with what the client did: exactly for whole requests, within what was
// sent and received for aborted ones, and across kills of either side during traffic.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort, killAll, removeDir, TallyServer, tempDir } from "./helpers.js";
import { MeterProxy, request, Upstream } from "./proxy-helpers.js";

const METHODS: Record<string, string> = {
  GET: "GET",
  PUT: "PUT",
  HEAD: "HEAD",
  POST: "POST",
  DELETE: "DELETE",
};

type Sums = Record<"GET" | "PUT" | "HEAD" | "POST" | "DELETE" | "OTHER" | "Bytes_In" | "Bytes_Out", number>;

const zero = (): Sums => ({ GET: 0, PUT: 0, HEAD: 0, POST: 0, DELETE: 0, OTHER: 0, Bytes_In: 0, Bytes_Out: 0 });

/** What the client did, per account. */
class Expected {
  readonly by = new Map<string, Sums>();
  add(account: string, method: string, sent: number, received: number): void {
    const s = this.by.get(account) ?? zero();
    s[(METHODS[method] ?? "OTHER") as keyof Sums]++;
    s.Bytes_In += sent;
    s.Bytes_Out += received;
    this.by.set(account, s);
  }
}

/** Tally's io_sum for an account over the hours around now. */
async function stored(tally: TallyServer, account: string): Promise<Sums> {
  const hour = 3_600_000;
  const from = new Date(Math.floor(Date.now() / hour) * hour - hour).toISOString();
  const to = new Date(Math.floor(Date.now() / hour) * hour + 2 * hour).toISOString();
  const a = await tally.get(`/io_sum?account_id=${encodeURIComponent(account)}&begin_time=${from}&end_time=${to}`);
  expect(a.status).toBe(200);
  return (a.body as [unknown, Sums])[1];
}

const V4 = (key: string) =>
  `AWS4-HMAC-SHA256 Credential=${key}/20261206/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`;

describe("tally meter proxy", () => {
  let upstream: Upstream;
  let dir: string;
  const agents: http.Agent[] = [];
  const newAgent = () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    agents.push(agent);
    return agent;
  };

  beforeAll(async () => {
    upstream = await Upstream.start();
  });
  afterEach(() => {
    for (const a of agents.splice(0)) a.destroy();
    killAll();
    if (dir) removeDir(dir);
  });
  afterAll(async () => {
    await upstream.close();
  });

  it("counts requests by method and body bytes per account, exactly, through the running server it finds", async () => {
    dir = tempDir("proxy-counts");
    const tally = await TallyServer.start({ dataDir: dir });
    const keys = path.join(dir, "s3-keys.txt");
    fs.writeFileSync(keys, "# access key, account\nAKIDS3 AUTH_s3\nv2key,AUTH_s3\n");
    const proxy = await MeterProxy.start([
      ...["--upstream", upstream.url, "--listen", "127.0.0.1:0", "--server", "proxy-1", "--data", dir],
      ...["--flush-every", "1", "--s3-keys", keys, "--unattributed", "nobody"],
    ]);
    try {
      const agent = newAgent();
      const expected = new Expected();
      const go = async (account: string, method: string, p: string, options: Parameters<typeof request>[4] = {}) => {
        const done = await request(proxy.url, agent, method, p, options);
        expect(done.status).toBeGreaterThan(0);
        expected.add(account, method, done.sent, done.received);
      };
      await go("AUTH_p1", "GET", "/v1/AUTH_p1/c/o?size=1000");
      await go("AUTH_p1", "GET", "/v1/AUTH_p1/c/o?size=300000&chunked=1");
      await go("AUTH_p1", "GET", "/v1/AUTH_p1?format=json&size=0");
      await go("AUTH_p1", "PUT", "/v1/AUTH_p1/c/o", { body: 5000 });
      await go("AUTH_p1", "PUT", "/v1/AUTH_p1/c/big", { body: 200_000, chunked: true });
      await go("AUTH_p1", "HEAD", "/v1/AUTH_p1/c/o?size=777");
      await go("AUTH_p1", "COPY", "/v1/AUTH_p1/c/o", { headers: { destination: "c/o2" } });
      await go("AUTH_p2", "POST", "/v1/AUTH_p2/c", { body: 10 });
      await go("AUTH_p2", "DELETE", "/v1/AUTH_p2/c/o");
      await go("AUTH_p2", "OPTIONS", "/v1/AUTH_p2/c/o");
      await go("AUTH_s3", "PUT", "/bucket/key", { body: 70_000, headers: { authorization: V4("AKIDS3") } });
      await go("AUTH_s3", "GET", "/bucket/key?size=4096", { headers: { authorization: "AWS v2key:c2ln" } });
      await go(
        "AUTH_s3",
        "GET",
        "/bucket/key?size=10&X-Amz-Credential=AKIDS3%2F20261206%2Fus-east-1%2Fs3%2Faws4_request",
      );
      await go("nobody", "GET", "/bucket/key?size=3", { headers: { authorization: V4("UNKNOWN") } });
      await go("nobody", "GET", "/info?size=20");
      await go("nobody", "GET", "/v1/OTHER_x/c?size=1");

      // Aborted half way: an upload of 8 MiB cut after 1 MiB, a download of 8 MiB cut after 256 KiB.
      const up = await request(proxy.url, newAgent(), "PUT", "/v1/AUTH_abort/c/o", {
        body: 8 << 20,
        abortAfter: 1 << 20,
        headers: { "x-test-id": "aborted-upload" },
      });
      const down = await request(proxy.url, newAgent(), "GET", "/v1/AUTH_abort/c/o?size=8388608", {
        abortAfter: 256 << 10,
      });
      expect(up.status).toBe(-1);
      expect(down.status).toBe(-1);

      expect(await proxy.stop()).toEqual({ code: 0, signal: null });
      for (const [account, sums] of expected.by)
        expect([account, await stored(tally, account)]).toEqual([account, sums]);
      const aborted = await stored(tally, "AUTH_abort");
      expect(aborted).toMatchObject({ GET: 1, PUT: 1 });
      // Bytes read from the client: at least what reached the upstream, at most what the client wrote.
      expect(aborted.Bytes_In).toBeGreaterThanOrEqual(upstream.received.get("aborted-upload") ?? 0);
      expect(aborted.Bytes_In).toBeGreaterThan(0);
      expect(aborted.Bytes_In).toBeLessThanOrEqual(up.sent);
      // Bytes sent to the client: at least what it read, never the whole object it did not take.
      expect(aborted.Bytes_Out).toBeGreaterThanOrEqual(down.received);
      expect(aborted.Bytes_Out).toBeLessThan(8 << 20);
      expect(fs.readdirSync(path.join(dir, "spool", "proxy-proxy-1"))).toEqual([]);
    } finally {
      await proxy.kill();
      await tally.stop();
    }
  });

  it("loses nothing and counts nothing twice when Tally is killed or restarted and the proxy stopped during traffic", async () => {
    dir = tempDir("proxy-kills");
    let tally = await TallyServer.start({ dataDir: dir });
    const port = await freePort();
    const proxyArgs = [
      ...["--upstream", upstream.url, "--listen", `127.0.0.1:${port}`, "--server", "proxy-k", "--data", dir],
      ...["--flush-every", "1"],
    ];
    let proxy = await MeterProxy.start(proxyArgs);
    const expected = new Expected();
    let running = true;
    let _failures = 0;
    const agent = newAgent();
    const plan = [
      { method: "GET", path: (a: string) => `/v1/${a}/c/o?size=20000`, body: 0 },
      { method: "PUT", path: (a: string) => `/v1/${a}/c/o`, body: 30_000 },
      { method: "HEAD", path: (a: string) => `/v1/${a}/c/o?size=5`, body: 0 },
      { method: "DELETE", path: (a: string) => `/v1/${a}/c/o`, body: 0 },
      { method: "POST", path: (a: string) => `/v1/${a}/c/o`, body: 100 },
      { method: "COPY", path: (a: string) => `/v1/${a}/c/o`, body: 0 },
    ];
    // Four clients, each sending until told to stop and counting only the requests answered; a request refused
    // while the proxy is down is sent again, as a real client would.
    const client = async (n: number) => {
      for (let i = 0; running; i++) {
        const step = plan[(Math.floor(i / 3) + n) % plan.length] as (typeof plan)[number];
        const account = `AUTH_k${i % 3}`;
        try {
          const done = await request(`http://127.0.0.1:${port}`, agent, step.method, step.path(account), {
            body: step.body,
          });
          expected.add(account, step.method, done.sent, done.received);
        } catch {
          _failures++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const clients = [0, 1, 2, 3].map(client);
    try {
      await pause(1500);
      await tally.kill();
      await pause(2000);
      tally = await TallyServer.start({ dataDir: dir });
      await pause(1500);
      await tally.stop();
      tally = await TallyServer.start({ dataDir: dir });
      await pause(1000);
      expect(await proxy.stop()).toEqual({ code: 0, signal: null });
      // While Tally was down the proxy spooled its flushes and said so; they were sent once it was back.
      expect(proxy.log().some((l) => String(l.msg).startsWith("cannot send counts"))).toBe(true);
      proxy = await MeterProxy.start(proxyArgs);
      await pause(1500);
      await tally.kill();
      tally = await TallyServer.start({ dataDir: dir });
      await pause(1500);
      running = false;
      await Promise.all(clients);
      expect(await proxy.stop()).toEqual({ code: 0, signal: null });
      // Whatever the last stop could not send would wait in the spool; here Tally was up, so nothing waits.
      expect(fs.readdirSync(path.join(dir, "spool", "proxy-proxy-k"))).toEqual([]);
      expect(expected.by.size).toBe(3);
      for (const [account, sums] of expected.by) {
        expect(sums.GET).toBeGreaterThan(0);
        expect([account, await stored(tally, account)]).toEqual([account, sums]);
      }
    } finally {
      running = false;
      await Promise.all(clients);
      await proxy.kill();
      await tally.stop();
    }
  }, 120_000);

  it("after a SIGKILL of the proxy, keeps every count it flushed, once, and loses at most what it had not", async () => {
    dir = tempDir("proxy-sigkill");
    const tally = await TallyServer.start({ dataDir: dir });
    const port = await freePort();
    const proxyArgs = [
      ...["--upstream", upstream.url, "--listen", `127.0.0.1:${port}`, "--server", "proxy-s", "--data", dir],
      ...["--flush-every", "1"],
    ];
    const first = await MeterProxy.start(proxyArgs);
    let attempts = 0;
    let running = true;
    const agent = newAgent();
    const client = async () => {
      while (running) {
        attempts++;
        await request(`http://127.0.0.1:${port}`, agent, "GET", "/v1/AUTH_s/c/o?size=100").catch(
          () => new Promise((resolve) => setTimeout(resolve, 50)),
        );
      }
    };
    const clients = [client(), client()];
    let second: MeterProxy | undefined;
    try {
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await first.kill();
      second = await MeterProxy.start(proxyArgs);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      running = false;
      await Promise.all(clients);
      expect(await second.stop()).toEqual({ code: 0, signal: null });
      const flushed = [...first.log(), ...second.log()]
        .filter((l) => typeof l.requests === "string")
        .reduce((n, l) => n + Number(l.requests), 0);
      const sums = await stored(tally, "AUTH_s");
      // Every flush either run logged was spooled before it was logged, and arrives exactly once.
      expect(sums.GET).toBe(flushed);
      expect(sums.GET).toBeGreaterThan(0);
      expect(sums.GET).toBeLessThanOrEqual(attempts);
      expect(sums.Bytes_Out).toBeLessThanOrEqual(sums.GET * 100);
    } finally {
      running = false;
      await Promise.all(clients);
      await first.kill();
      await second?.kill();
      await tally.stop();
    }
  });

  it("answers 502 while the object store is down, and counts the request without bytes", async () => {
    dir = tempDir("proxy-502");
    const tally = await TallyServer.start({ dataDir: dir });
    const down = `http://127.0.0.1:${await freePort()}`;
    const proxy = await MeterProxy.start([
      ...["--upstream", down, "--listen", "127.0.0.1:0", "--server", "proxy-d", "--data", dir],
    ]);
    try {
      const answer = await fetch(`${proxy.url}/v1/AUTH_d/c/o`, { method: "PUT", body: "twelve bytes" });
      expect(answer.status).toBe(502);
      expect(await answer.text()).toContain("bad gateway");
      expect(await proxy.stop()).toEqual({ code: 0, signal: null });
      const sums = await stored(tally, "AUTH_d");
      expect(sums).toMatchObject({ PUT: 1, Bytes_Out: 0 });
      // What the proxy read of the body before the store failed, at most all of it.
      expect(sums.Bytes_In).toBeLessThanOrEqual(12);
    } finally {
      await proxy.kill();
      await tally.stop();
    }
  });

  it("streams a large upload in constant memory, even while the object store stalls", async () => {
    dir = tempDir("proxy-memory");
    const proxy = await MeterProxy.start([
      ...["--upstream", upstream.url, "--listen", "127.0.0.1:0", "--server", "proxy-m", "--data", dir],
    ]);
    try {
      const before = proxy.peakRss();
      const size = 512 << 20;
      const done = await request(proxy.url, newAgent(), "PUT", "/v1/AUTH_m/c/o?stall=1500", {
        body: size,
        headers: { "x-test-id": "large-upload" },
      });
      expect(done.status).toBe(201);
      expect(upstream.received.get("large-upload")).toBe(size);
      const peak = proxy.peakRss();
      // Had the proxy buffered while the store stalled, its memory would have grown by about the upload's size;
      // streaming, by tens of MiB, more with the other tests running beside it: the bound is a quarter of the size.
      expect(peak - before).toBeLessThan(size / 4);
    } finally {
      await proxy.kill();
    }
  });
});
