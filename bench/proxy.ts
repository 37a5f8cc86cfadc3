// npm run bench:proxy — the metering proxy's cost: requests/s and throughput through `tally meter proxy` against the
// same object store directly, in the same run, for 1 KiB, 1 MiB and 100 MiB objects (GET and PUT), the proxy's
// memory meanwhile, and its memory while one large upload passes (BENCH_PROXY_UPLOAD_GIB, default 1). On a shared
// machine the rates follow the load; the CPU time each process spent per request (client, proxy and object store,
// read from /proc) does not, so it is printed too: the proxy's against the two ends' shows what it costs.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { NODE_ENV, NODE_FLAGS } from "../src/cli/node-flags.js";
import { DIST, machine, memoryOf, mib, progress, TALLY_MAIN, table, tempDir, threadCpuOf } from "./harness.js";

const SECONDS = Number(process.env.BENCH_PROXY_SECONDS ?? 4);
const UPLOAD_GIB = Number(process.env.BENCH_PROXY_UPLOAD_GIB ?? 1);

const CASES = [
  { label: "1 KiB", size: 1024, concurrency: 32 },
  { label: "1 MiB", size: 1 << 20, concurrency: 8 },
  { label: "100 MiB", size: 100 << 20, concurrency: 2 },
] as const;

interface Result {
  readonly requests: number;
  readonly bytes: number;
  readonly seconds: number;
  /** CPU milliseconds per request of the client (this process), the proxy and the object store. */
  readonly cpu: { readonly client: number; readonly proxy: number; readonly upstream: number };
}

/** CPU seconds a process has used so far, all its threads; 0 once it is gone. */
function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  let sum = 0;
  for (const seconds of threadCpuOf(pid)?.values() ?? []) sum += seconds;
  return sum;
}

const BODY = Buffer.alloc(1 << 20, 0x62);

/** One request; resolves with the body bytes moved (sent for PUT, received for GET). */
function once(agent: http.Agent, base: string, method: "GET" | "PUT", size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = method === "PUT" ? { "content-length": String(size) } : {};
    const req = http.request(`${base}/v1/AUTH_bench/c/o?size=${size}`, { method, agent, headers }, (res) => {
      let received = 0;
      res.on("data", (c: Buffer) => {
        received += c.length;
      });
      res.on("end", () =>
        res.statusCode === 200 || res.statusCode === 201
          ? resolve(method === "GET" ? received : size)
          : reject(new Error(`HTTP ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    if (method === "GET") {
      req.end();
      return;
    }
    let left = size;
    const write = () => {
      while (left > 0) {
        const n = Math.min(left, BODY.length);
        left -= n;
        if (!req.write(n === BODY.length ? BODY : BODY.subarray(0, n))) {
          req.once("drain", write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

/** As many requests as `concurrency` clients make in SECONDS. */
async function load(
  base: string,
  method: "GET" | "PUT",
  size: number,
  concurrency: number,
  pids: { readonly proxy: number; readonly upstream: number },
): Promise<Result> {
  const cpuBefore = { client: process.cpuUsage(), proxy: cpuOf(pids.proxy), upstream: cpuOf(pids.upstream) };
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const started = performance.now();
  const until = started + SECONDS * 1000;
  let requests = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        bytes += await once(agent, base, method, size);
        requests++;
      }
    }),
  );
  agent.destroy();
  const client = process.cpuUsage(cpuBefore.client);
  const perRequest = (seconds: number) => (1000 * seconds) / Math.max(requests, 1);
  return {
    requests,
    bytes,
    seconds: (performance.now() - started) / 1000,
    cpu: {
      client: perRequest((client.user + client.system) / 1e6),
      proxy: perRequest(cpuOf(pids.proxy) - cpuBefore.proxy),
      upstream: perRequest(cpuOf(pids.upstream) - cpuBefore.upstream),
    },
  };
}

/** Spawns a process and resolves with the first stdout line the matcher accepts. */
function spawnUntil(
  args: string[],
  match: (line: string) => string | undefined,
): Promise<{ child: ChildProcess; value: string }> {
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...NODE_ENV },
  });
  return new Promise((resolve, reject) => {
    let pending = "";
    child.stdout?.on("data", (c: Buffer) => {
      pending += c.toString();
      for (let nl = pending.indexOf("\n"); nl !== -1; nl = pending.indexOf("\n")) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const value = match(line);
        if (value !== undefined) resolve({ child, value });
      }
    });
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  console.log(`bench:proxy on ${machine()}; ${SECONDS} s per case`);
  const dir = tempDir("tally-bench-proxy-");
  const upstream = await spawnUntil([path.join(DIST, "bench", "proxy-upstream.js")], (l) => l.trim() || undefined);
  const direct = `http://127.0.0.1:${upstream.value}`;
  const proxy = await spawnUntil(
    [
      ...NODE_FLAGS,
      TALLY_MAIN,
      ...["meter", "proxy", "--upstream", direct, "--listen", "127.0.0.1:0", "--server", "bench", "--data", dir],
    ],
    (line) => {
      try {
        return /^metering proxy listening on (\S+) /.exec((JSON.parse(line) as { msg: string }).msg)?.[1];
      } catch {
        return undefined;
      }
    },
  );
  const proxied = proxy.value;
  const pid = proxy.child.pid as number;
  const pids = { proxy: pid, upstream: upstream.child.pid as number };
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memoryOf(pid)?.rss ?? 0);
  }, 100);
  const rows: string[][] = [];
  try {
    const idle = memoryOf(pid)?.rss ?? 0;
    for (const c of CASES) {
      for (const method of ["GET", "PUT"] as const) {
        progress(`${method} ${c.label}, ${c.concurrency} at once: direct, then through the proxy`);
        await load(direct, method, c.size, c.concurrency, pids); // warm-up of both ends' connections and JIT
        await load(proxied, method, c.size, c.concurrency, pids);
        const d = await load(direct, method, c.size, c.concurrency, pids);
        peak = 0;
        const p = await load(proxied, method, c.size, c.concurrency, pids);
        const rate = (r: Result) => r.requests / r.seconds;
        const mbps = (r: Result) => r.bytes / r.seconds / 1e6;
        rows.push([
          `${method} ${c.label}`,
          rate(d).toFixed(0),
          rate(p).toFixed(0),
          `${((100 * rate(p)) / rate(d)).toFixed(1)}%`,
          mbps(d).toFixed(1),
          mbps(p).toFixed(1),
          mib(peak),
          d.cpu.client.toFixed(3),
          d.cpu.upstream.toFixed(3),
          p.cpu.proxy.toFixed(3),
          `${(p.cpu.proxy / (d.cpu.client + d.cpu.upstream)).toFixed(2)}×`,
        ]);
      }
    }
    console.log(`\nproxy RSS when idle: ${mib(idle)}\n`);
    console.log(
      table(
        [
          "objects",
          "direct req/s",
          "proxy req/s",
          "proxy/direct",
          "direct MB/s",
          "proxy MB/s",
          "proxy peak RSS",
          "client CPU ms/req",
          "store CPU ms/req",
          "proxy CPU ms/req",
          "proxy/(client+store) CPU",
        ],
        rows,
      ),
    );

    if (UPLOAD_GIB > 0) {
      const size = UPLOAD_GIB * 1024 * 1024 * 1024;
      progress(`one upload of ${UPLOAD_GIB} GiB through the proxy`);
      const before = memoryOf(pid)?.rss ?? 0;
      peak = 0;
      const samples: number[] = [];
      const during = setInterval(() => samples.push(memoryOf(pid)?.rss ?? 0), 500);
      const started = performance.now();
      await once(new http.Agent(), proxied, "PUT", size);
      clearInterval(during);
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `\n${UPLOAD_GIB} GiB upload through the proxy: ${seconds.toFixed(1)} s (${(size / seconds / 1e6).toFixed(0)} MB/s); ` +
          `proxy RSS ${mib(before)} before, ${mib(Math.min(...samples))}–${mib(Math.max(...samples))} during (${samples.length} samples), peak ${mib(peak)}`,
      );
    }
  } finally {
    clearInterval(sampler);
    proxy.child.kill("SIGTERM");
    upstream.child.kill("SIGTERM");
    await new Promise((resolve) => proxy.child.once("exit", resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
