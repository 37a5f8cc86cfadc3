// Every meter publishing to NATS JetStream (`--to nats://…`) and a `tally serve --consume` storing what they publish:
// the metering proxy (stopped by SIGTERM, so it flushes first), the space scanner and the Swift access-log import.
// What the node stores must equal what the client did, the tree holds and the log says, exactly; publishing the same
// again is dropped by the broker or the store, never counted twice.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { swiftAccessLine } from "../../bench/swift-log-workload.js";
import { killAll, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";
import { deleteStreams, eventually, jetStreamNames, SHARED_NATS } from "./nats.js";
import { MeterProxy, request, Upstream } from "./proxy-helpers.js";

const names = jetStreamNames("meters");
const dir = tempDir("meters-jetstream");
let upstream: Upstream | undefined;

afterAll(async () => {
  killAll();
  await upstream?.close();
  removeDir(dir);
  await deleteStreams(SHARED_NATS, [names.stream]);
});

const HOUR = 3_600_000;

async function ioSum(tally: TallyServer, account: string, around: number): Promise<Record<string, number>> {
  const from = new Date(Math.floor(around / HOUR) * HOUR - HOUR).toISOString();
  const to = new Date(Math.floor(around / HOUR) * HOUR + 2 * HOUR).toISOString();
  const a = await tally.get(`/io_sum?account_id=${encodeURIComponent(account)}&begin_time=${from}&end_time=${to}`);
  if (a.status !== 200) throw new Error(`io_sum answered ${a.status}`);
  return (a.body as [unknown, Record<string, number>])[1];
}

async function level(tally: TallyServer, server: string, account: string): Promise<string | undefined> {
  const a = await tally.get("/usage?format=json&metric=storage.bytes&limit=1000");
  const rows = (a.body as { rows: { account: string; by_server: Record<string, string> }[] }).rows;
  return rows.find((r) => r.account === account)?.by_server[server];
}

describe("meters publishing to NATS JetStream", { timeout: 180_000 }, () => {
  it("the proxy, the scanner and the log import publish; a consuming node stores every count once", async () => {
    const tally = await TallyServer.start({
      dataDir: path.join(dir, "node"),
      args: ["--consume", SHARED_NATS, ...names.args, "--durable", names.durable],
    });
    const publish = ["--to", SHARED_NATS, ...names.args];

    // The metering proxy: counts flushed every second and at SIGTERM.
    upstream = await Upstream.start();
    const proxy = await MeterProxy.start([
      ...["--upstream", upstream.url, "--listen", "127.0.0.1:0", "--server", "px", "--flush-every", "1"],
      ...["--data", path.join(dir, "proxy"), ...publish],
    ]);
    expect(proxy.output).toContain(`go to stream ${names.stream} at nats://127.0.0.1:`);
    const agent = new http.Agent({ keepAlive: true });
    let sent = 0;
    let received = 0;
    for (let i = 0; i < 12; i++) {
      const done =
        i % 3 === 0
          ? await request(proxy.url, agent, "PUT", "/v1/AUTH_m/c/o", { body: 1000 + i })
          : await request(proxy.url, agent, "GET", `/v1/AUTH_m/c/o?size=${500 + i}`);
      expect(done.status).toBeGreaterThan(0);
      sent += done.sent;
      received += done.received;
    }
    agent.destroy();
    const proxiedAt = Date.now();
    expect(await proxy.stop()).toEqual({ code: 0, signal: null });
    expect(fs.readdirSync(path.join(dir, "proxy", "spool", "proxy-px"))).toEqual([]);
    const counted = await eventually(
      () => ioSum(tally, "AUTH_m", proxiedAt),
      (s) => s.GET === 8 && s.PUT === 4,
    );
    expect(counted).toMatchObject({ GET: 8, PUT: 4, Bytes_In: sent, Bytes_Out: received });

    // The space scanner, twice: the second scan's levels replace the first's; nothing is summed.
    const tree = path.join(dir, "tree");
    fs.mkdirSync(path.join(tree, "AUTH_d"), { recursive: true });
    fs.writeFileSync(path.join(tree, "AUTH_d", "a"), Buffer.alloc(4321));
    const scan = ["meter", "scan", "--dir", tree, "--server", "sc", "--data", path.join(dir, "scanner"), ...publish];
    const first = await runTally(scan);
    expect(first.code, first.stderr).toBe(0);
    expect(
      await eventually(
        () => level(tally, "sc", "AUTH_d"),
        (v) => v === "4321",
      ),
    ).toBe("4321");
    fs.writeFileSync(path.join(tree, "AUTH_d", "b"), Buffer.alloc(79));
    expect((await runTally(scan)).code).toBe(0);
    expect(
      await eventually(
        () => level(tally, "sc", "AUTH_d"),
        (v) => v === "4400",
      ),
    ).toBe("4400");

    // The access-log import; the same file again with fresh positions makes the same event ids, which are dropped.
    const t = Date.UTC(2026, 10, 23, 10);
    const log = path.join(dir, "proxy.log");
    const lines = [0, 1, 2, 3, 4, 5].map((i) =>
      swiftAccessLine({ time: t + i * 1000, method: i % 2 ? "PUT" : "GET", path: `/v1/AUTH_l/c/o${i}`, bytesIn: i }),
    );
    fs.writeFileSync(log, `${lines.join("\n")}\n`);
    const importArgs = ["import", "swift-log", log, "--server", "lg", "--data", path.join(dir, "importer"), ...publish];
    const imported = await runTally(importArgs);
    expect(imported.code, imported.stderr).toBe(0);
    const again = await runTally([...importArgs, "--positions", path.join(dir, "other-positions.json")]);
    expect(again.code, again.stderr).toBe(0);
    const logged = await eventually(
      () => ioSum(tally, "AUTH_l", t),
      (s) => s.GET === 3 && s.PUT === 3,
    );
    expect(logged).toMatchObject({ GET: 3, PUT: 3, Bytes_In: 15 });
    // Give the second import's messages time to arrive too, then check nothing was counted twice.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await ioSum(tally, "AUTH_l", t)).toMatchObject({ GET: 3, PUT: 3, Bytes_In: 15 });
    expect(await ioSum(tally, "AUTH_m", proxiedAt)).toMatchObject({ GET: 8, PUT: 4, Bytes_In: sent });

    // A broker URL that does not answer is a clear error, and nothing is half done.
    const down = await runTally([...scan.slice(0, -publish.length), "--to", "nats://127.0.0.1:9", ...names.args]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/cannot reach the broker at nats:\/\/127\.0\.0\.1:9/);
    await tally.stop();
  });
});
