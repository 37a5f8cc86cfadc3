// `tally import swift-log` as a user runs it: standard input (gzipped), a file with unparseable lines, a missing file,
// and --follow stopped by SIGTERM and started again, also after the log was rotated and gzipped meanwhile.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { swiftAccessLine } from "../../bench/swift-log-workload.js";
import { NODE_FLAGS } from "../../src/cli/node-flags.js";
import { CLI, childEnv, killAll, ROOT, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

const SAMPLE = fs.readFileSync(path.join(ROOT, "src/meters/testdata/swift-proxy-access-sample.txt"));
const T = Date.UTC(2026, 10, 23, 10);

let dir: string;
beforeAll(() => {
  dir = tempDir("import-swift-log");
});
afterAll(() => {
  killAll();
  removeDir(dir);
});

const line = (i: number) =>
  swiftAccessLine({ time: T + i * 1000, method: i % 2 ? "PUT" : "GET", path: `/v1/AUTH_f/c/o${i}`, bytesIn: i });

describe("tally import swift-log", () => {
  it("reads gzipped standard input, and the same log again changes nothing", async () => {
    const data = path.join(dir, "stdin");
    const args = ["import", "swift-log", "--data", data, "--server", "s1"];
    const first = await runTally(args, { input: gzipSync(SAMPLE) });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^read 40 lines .*: 11 requests counted, 7 events sent \(7 new, /);
    const second = await runTally([...args, "-"], { input: SAMPLE });
    expect(second.stdout).toContain("0 requests counted, 0 events sent");
    expect(second.stdout).toContain("40 lines imported before");
  });

  it("goes through the running Tally by itself, or the one --url names, with the admin token", async () => {
    const server = await TallyServer.start({ dataDir: path.join(dir, "served") });
    try {
      const file = path.join(dir, "sample.log");
      fs.writeFileSync(file, SAMPLE);
      // Without --url it finds the server holding the data directory by itself.
      const own = path.join(dir, "own.log");
      fs.writeFileSync(own, `${[0, 1, 2, 3, 4].map(line).join("\n")}\n`);
      const found = await runTally(["import", "swift-log", "--data", server.dataDir, "--server", "s0", own]);
      expect(found.code, found.stderr).toBe(0);
      const ownSum = await server.get(
        "/io_sum?account_id=AUTH_f&begin_time=2026-11-23T10:00:00Z&end_time=2026-11-23T11:00:00Z",
      );
      expect((ownSum.body as [unknown, Record<string, number>])[1]).toMatchObject({ GET: 3, PUT: 2, Bytes_In: 10 });
      const r = await runTally([
        "import",
        "swift-log",
        "--url",
        server.url,
        "--token-file",
        path.join(server.dataDir, "admin-token"),
        "--positions",
        path.join(dir, "url-positions.json"),
        "--server",
        "s1",
        file,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const sum = await server.get(
        "/io_sum?account_id=AUTH_test&begin_time=2026-11-23T09:00:00Z&end_time=2026-11-23T10:00:00Z",
      );
      expect((sum.body as [unknown, unknown])[1]).toEqual({
        Bytes_In: 10000,
        Bytes_Out: 10131,
        DELETE: 0,
        GET: 2,
        HEAD: 2,
        OTHER: 0,
        POST: 0,
        PUT: 2,
      });
    } finally {
      await server.stop();
    }
  });

  it("reports unparseable lines by file and number, imports the rest, and exits 2; a missing file changes nothing", async () => {
    const file = path.join(dir, "bad.log");
    fs.writeFileSync(file, `${line(1)}\nnot a log line\n${line(2)}\n`);
    const data = path.join(dir, "bad");
    const r = await runTally(["import", "swift-log", "--data", data, file]);
    expect(r.stderr).toBe(`${file} line 2: is not a Swift proxy access line\n`);
    expect(r.stdout).toMatch(/2 requests counted.*; 1 unparseable$/m);
    expect(r.code).toBe(2);
    const missing = await runTally(["import", "swift-log", "--data", data, file, path.join(dir, "nope.log")]);
    expect(missing.stderr).toBe(`tally: cannot read ${path.join(dir, "nope.log")}: no such file\n`);
    expect(missing.code).toBe(2);
  });

  it("--follow sends what it read when stopped by SIGTERM, and a restart goes on from there", async () => {
    const file = path.join(dir, "live.log");
    const data = path.join(dir, "follow");
    const follow = () => startFollowing(file, data);
    fs.writeFileSync(file, `${[0, 1, 2].map(line).join("\n")}\n`);
    const first = follow();
    await first.following();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    fs.appendFileSync(file, `${[3, 4].map(line).join("\n")}\n`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.out()).toMatch(/5 requests counted, 3 events sent \(3 new/);

    fs.appendFileSync(file, `${[5, 6].map(line).join("\n")}\n`);
    const second = follow();
    await second.following();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.out()).toMatch(/2 requests counted, .* 5 lines imported before/);
  });

  it("--follow started again after the log was rotated and gzipped reads the rest of the old log, then the new one", async () => {
    const file = path.join(dir, "rotated.log");
    const data = path.join(dir, "rotated");
    fs.writeFileSync(file, `${[0, 1, 2].map(line).join("\n")}\n`);
    const first = startFollowing(file, data);
    await first.following();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.out()).toMatch(/3 requests counted/);

    // While it is stopped: more lines, then logrotate (rename, compress) and a new log.
    fs.appendFileSync(file, `${[3, 4].map(line).join("\n")}\n`);
    fs.writeFileSync(`${file}.1.gz`, gzipSync(fs.readFileSync(file)));
    fs.rmSync(file);
    fs.writeFileSync(file, `${[5, 6, 7].map(line).join("\n")}\n`);
    const second = startFollowing(file, data);
    await second.following();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.err()).toContain(`${file}: ${file}.1.gz is the log followed there before (`);
    expect(second.out()).toMatch(/read 5 lines .*: 5 requests counted, .* 3 lines imported before/);

    // The store holds each of the 8 requests once.
    const server = await TallyServer.start({ dataDir: data });
    try {
      const sum = await server.get(
        "/io_sum?account_id=AUTH_f&begin_time=2026-11-23T10:00:00Z&end_time=2026-11-23T11:00:00Z",
      );
      expect((sum.body as [unknown, Record<string, number>])[1]).toMatchObject({ GET: 4, PUT: 4, Bytes_In: 28 });
    } finally {
      await server.stop();
    }
  });
});

/** `tally import swift-log --follow FILE` as a child process, with what it printed so far. */
function startFollowing(file: string, data: string) {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, CLI, "import", "swift-log", "--data", data, "--follow", "--flush-every", "3600", file],
    { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const following = async () => {
    while (!err.includes(`following ${file}`)) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  return { child, exited, out: () => out, err: () => err, following };
}
