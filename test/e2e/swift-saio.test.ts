// Against a real OpenStack Swift (Debian's packages on loopback, started by .ci/swift-saio.sh, which installs them
// when missing), through Tally's metering proxy: a client (curl) uploads, downloads, lists, copies and deletes; then
// the proxy's counts and the import of this Swift's access log must both give the requests and bytes the client made,
// per account, and Tally's space scanner must agree with Swift's own X-Account-Bytes-Used.

import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, ROOT, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";
import { MeterProxy } from "./proxy-helpers.js";

const SCRIPT = path.join(ROOT, ".ci/swift-saio.sh");
/** A fresh machine installs the packages first (minutes); a running Swift answers at once. */
const START_TIMEOUT_MS = 15 * 60_000;

interface Saio {
  url: string;
  accessLog: string;
  containerConf: string;
}

interface Call {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly sent: number;
  readonly received: number;
  readonly txid: string;
}

/** What the client did, per account: requests by method, and bytes sent and received in bodies. */
type Done = Map<string, Record<string, number>>;

let saio: Saio;
let dir: string;

beforeAll(() => {
  const r = spawnSync("bash", [SCRIPT, "start"], { encoding: "utf8", timeout: START_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`${SCRIPT} start failed (${r.status}):\n${r.stdout}${r.stderr}`);
  const env = Object.fromEntries(
    r.stdout
      .split("\n")
      .filter((l) => l.startsWith("SWIFT_SAIO_"))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  saio = {
    url: env.SWIFT_SAIO_URL as string,
    accessLog: env.SWIFT_SAIO_ACCESS_LOG as string,
    containerConf: env.SWIFT_SAIO_CONTAINER_CONF as string,
  };
  dir = tempDir("swift-saio");
}, START_TIMEOUT_MS);

afterAll(() => {
  killAll();
  if (dir) removeDir(dir);
});

/** One request with curl; bodies from and to files, so that byte counts are curl's own. */
function curl(method: string, url: string, options: { token?: string; body?: Buffer; headers?: string[] } = {}): Call {
  const headersFile = path.join(dir, "headers.txt");
  const args = ["-s", "-X", method, "-D", headersFile, "-o", path.join(dir, "body.out")];
  args.push("-w", "%{http_code} %{size_upload} %{size_download}");
  if (method === "HEAD") args.splice(1, 2, "-I");
  if (options.token) args.push("-H", `X-Auth-Token: ${options.token}`);
  for (const h of options.headers ?? []) args.push("-H", h);
  if (options.body) {
    const bodyFile = path.join(dir, "body.in");
    fs.writeFileSync(bodyFile, options.body);
    args.push("--data-binary", `@${bodyFile}`, "-H", "Content-Type: application/octet-stream");
  }
  const out = execFileSync("curl", [...args, url], { encoding: "utf8" })
    .trim()
    .split(" ");
  const headers: Record<string, string> = {};
  for (const line of fs.readFileSync(headersFile, "utf8").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(out[0]),
    headers,
    sent: Number(out[1]),
    received: Number(out[2]),
    txid: headers["x-trans-id"] ?? "",
  };
}

function swift(user: string, key: string, ...args: string[]): string {
  return execFileSync("swift", ["-A", `${saio.url}/auth/v1.0`, "-U", user, "-K", key, ...args], {
    encoding: "utf8",
    cwd: dir,
  });
}

/** Runs the container updater once: X-Account-Bytes-Used lags until it has. */
function updateAccounts(): void {
  execFileSync("swift-container-updater", [saio.containerConf, "once"], { stdio: "ignore" });
}

/** io_sum of each account the client used equals what it did. */
async function expectIoSums(server: TallyServer, done: Done): Promise<void> {
  const begin = new Date(Date.now() - 3 * 3_600_000).toISOString();
  const end = new Date(Date.now() + 2 * 3_600_000).toISOString();
  for (const [account, d] of done) {
    const q = new URLSearchParams({ account_id: account, begin_time: begin, end_time: end, format: "json" });
    const answer = await server.get(`/io_sum?${q}`);
    expect(answer.status).toBe(200);
    const sums = (answer.body as [unknown, Record<string, number>])[1];
    expect(sums, account).toEqual({
      Bytes_In: d.bytesIn ?? 0,
      Bytes_Out: d.bytesOut ?? 0,
      DELETE: d.DELETE ?? 0,
      GET: d.GET ?? 0,
      HEAD: d.HEAD ?? 0,
      OTHER: d.COPY ?? 0,
      POST: d.POST ?? 0,
      PUT: d.PUT ?? 0,
    });
  }
}

describe("a real Swift", () => {
  it("is counted by the metering proxy and the log import as the client saw it, and measured by the scanner as Swift measures itself", async () => {
    const users = [
      { user: "test:tester", key: "testing", account: "AUTH_test" },
      { user: "test2:tester2", key: "testing2", account: "AUTH_test2" },
    ];
    // Start from empty accounts, with a real client: python-swiftclient's `swift`.
    for (const u of users) swift(u.user, u.key, "delete", "--all");
    updateAccounts();
    // Their access lines come over UDP, late: start reading the log once it has been still for a second.
    let logStart = -1;
    for (let size = fs.statSync(saio.accessLog).size; size !== logStart; size = fs.statSync(saio.accessLog).size) {
      logStart = size;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }

    // Every request of the client goes through the proxy, which keeps its counts in a store of its own.
    const proxyData = path.join(dir, "proxy-data");
    const proxy = await MeterProxy.start([
      ...["--upstream", saio.url, "--listen", "127.0.0.1:0", "--server", "saio", "--data", proxyData],
      ...["--flush-every", "1"],
    ]);
    const done: Done = new Map();
    const txids: string[] = [];
    const count = (account: string, call: Call, method: string) => {
      const d = done.get(account) ?? {};
      d[method] = (d[method] ?? 0) + 1;
      d.bytesIn = (d.bytesIn ?? 0) + call.sent;
      d.bytesOut = (d.bytesOut ?? 0) + call.received;
      done.set(account, d);
      txids.push(call.txid);
      return call;
    };
    const stored = new Map<string, number>();
    for (const [n, u] of users.entries()) {
      const auth = curl("GET", `${proxy.url}/auth/v1.0`, {
        headers: [`X-Auth-User: ${u.user}`, `X-Auth-Key: ${u.key}`],
      });
      count("unattributed", auth, "GET");
      const token = auth.headers["x-auth-token"] as string;
      const base = `${proxy.url}/v1/${u.account}/tally-it`;
      const call = (method: string, url: string, extra: Parameters<typeof curl>[2] = {}) =>
        count(u.account, curl(method, url, { token, ...extra }), method);
      expect(call("PUT", base).status).toBe(201);
      const sizes = [1000 + n, 20_000 * (n + 1), 333];
      for (const [i, size] of sizes.entries()) {
        expect(call("PUT", `${base}/o${i}`, { body: Buffer.alloc(size, 97 + i) }).status).toBe(201);
      }
      expect(call("GET", `${base}/o1`).received).toBe(sizes[1]);
      expect(call("GET", `${base}/o0`).status).toBe(200);
      expect(call("HEAD", `${base}/o2`).status).toBe(200);
      expect(call("GET", `${base}?format=json`).status).toBe(200);
      expect(call("POST", `${base}/o0`, { headers: ["X-Object-Meta-Color: blue"] }).status).toBe(202);
      expect(call("GET", `${base}/missing`).status).toBe(404);
      // COPY is served by middleware with subrequests of its own, which the log marks and the import skips.
      expect(call("COPY", `${base}/o1`, { headers: [`Destination: tally-it/copy`] }).status).toBe(201);
      expect(call("DELETE", `${base}/o2`).status).toBe(204);
      stored.set(u.account, (sizes[0] as number) + 2 * (sizes[1] as number));
    }

    // Swift's own account counters, once the container updater has carried the containers' counts up.
    updateAccounts();
    const admin = count(
      "unattributed",
      curl("GET", `${proxy.url}/auth/v1.0`, { headers: ["X-Auth-User: admin:admin", "X-Auth-Key: admin"] }),
      "GET",
    );
    const swiftSays = new Map<string, Record<string, string>>();
    for (const u of users) {
      const adminToken = admin.headers["x-auth-token"] as string;
      const h = count(u.account, curl("HEAD", `${proxy.url}/v1/${u.account}`, { token: adminToken }), "HEAD").headers;
      swiftSays.set(u.account, {
        "storage.bytes": h["x-account-bytes-used"] as string,
        "storage.files": h["x-account-object-count"] as string,
        "storage.containers": h["x-account-container-count"] as string,
      });
      expect(h["x-account-bytes-used"]).toBe(String(stored.get(u.account)));
    }
    // SIGTERM: the proxy flushes what it counted before it exits.
    expect((await proxy.stop()).code, proxy.output).toBe(0);

    // The access lines come over UDP: wait until every request the client made is in the log.
    const deadline = Date.now() + 20_000;
    let slice = "";
    for (;;) {
      const fd = fs.openSync(saio.accessLog, "r");
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(size - logStart);
      fs.readSync(fd, buffer, 0, buffer.length, logStart);
      fs.closeSync(fd);
      slice = buffer.toString("latin1");
      const lastNl = slice.lastIndexOf("\n");
      slice = slice.slice(0, lastNl + 1);
      if (txids.every((tx) => slice.includes(` ${tx} `))) break;
      if (Date.now() > deadline) throw new Error("the proxy's access lines did not all reach the log within 20 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const logFile = path.join(dir, "proxy-access.log");
    fs.writeFileSync(logFile, slice, "latin1");

    const data = path.join(dir, "data");
    const imported = await runTally(["import", "swift-log", "--data", data, "--server", "saio", logFile]);
    expect(imported.stderr).toBe("");
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/[1-9]\d* internal subrequests/);
    const again = await runTally(["import", "swift-log", "--data", data, "--server", "saio", logFile]);
    expect(again.stdout).toContain("0 events sent");

    const accountsFile = path.join(dir, "accounts");
    fs.writeFileSync(accountsFile, users.map((u) => u.account).join("\n"));
    const keyFile = path.join(dir, "admin-key");
    fs.writeFileSync(keyFile, "admin\n");
    const scan = await runTally([
      "meter",
      "scan",
      "--data",
      data,
      "--server",
      "saio",
      "--swift",
      saio.url,
      "--accounts",
      accountsFile,
      "--swift-user",
      "admin:admin",
      "--swift-key-file",
      keyFile,
    ]);
    expect(scan.code, scan.stdout + scan.stderr).toBe(0);

    const server = await TallyServer.start({ dataDir: data });
    try {
      await expectIoSums(server, done);
      for (const metric of ["storage.bytes", "storage.files", "storage.containers"]) {
        const table = await server.get(`/usage?format=json&metric=${metric}`);
        const rows = (table.body as { rows: { account: string; by_server: Record<string, string> }[] }).rows;
        for (const u of users) {
          const row = rows.find((r) => r.account === u.account);
          expect(row?.by_server.saio, `${u.account} ${metric}`).toBe(swiftSays.get(u.account)?.[metric]);
        }
      }
    } finally {
      await server.stop();
    }
    const proxied = await TallyServer.start({ dataDir: proxyData });
    try {
      await expectIoSums(proxied, done);
    } finally {
      await proxied.stop();
    }
  }, 120_000);
});
