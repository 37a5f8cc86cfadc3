// `tally meter scan --dir` as a user runs it: a directory it may not read is reported and the scan goes on (run as
// nobody when the tests run as root, who may read everything); --every scans again until SIGTERM, and an account
// whose directory is gone reads zero.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE_FLAGS } from "../../src/cli/node-flags.js";
import { CLI, childEnv, killAll, removeDir, TallyServer, tempDir } from "./helpers.js";

const NOBODY = 65534;
const asNobody = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};

let dir: string;
let tree: string;
let data: string;

beforeAll(() => {
  dir = tempDir("meter-scan");
  fs.chmodSync(dir, 0o755);
  tree = path.join(dir, "tree");
  data = path.join(dir, "data");
  fs.mkdirSync(data, { mode: 0o777 });
  fs.chmodSync(data, 0o777);
  const put = (rel: string, bytes: number) => {
    fs.mkdirSync(path.dirname(path.join(tree, rel)), { recursive: true });
    fs.writeFileSync(path.join(tree, rel), Buffer.alloc(bytes));
  };
  put("alice/a", 1000);
  put("alice/sub/b", 24);
  put("bob/c", 5);
  put("bob/locked/d", 77);
  fs.chmodSync(path.join(tree, "bob", "locked"), 0o000);
});

afterAll(() => {
  killAll();
  if (tree) fs.chmodSync(path.join(tree, "bob", "locked"), 0o755);
  if (dir) removeDir(dir);
});

function usage(server: TallyServer, metric: string): Promise<Record<string, string | undefined>> {
  return server.get(`/usage?format=json&metric=${metric}`).then((answer) => {
    const rows = (answer.body as { rows: { account: string; by_server: Record<string, string> }[] }).rows;
    return Object.fromEntries(rows.map((r) => [r.account, r.by_server.host1]));
  });
}

describe("tally meter scan --dir", () => {
  it("reports what it may not read, sends the rest, and exits 2", async () => {
    const r = spawnSync(
      process.execPath,
      [...NODE_FLAGS, CLI, "meter", "scan", "--data", data, "--server", "host1", "--dir", tree],
      { env: childEnv(), encoding: "utf8", ...asNobody },
    );
    expect(r.stderr).toBe(`${path.join(tree, "bob", "locked")}: permission denied\n`);
    expect(r.stdout).toMatch(/: 3 files, .* 1 problems; 2 accounts/);
    expect(r.status).toBe(2);
    const server = await TallyServer.start({ dataDir: data });
    try {
      expect(await usage(server, "storage.bytes")).toEqual({ alice: "1024", bob: "5" });
      expect(await usage(server, "storage.files")).toEqual({ alice: "2", bob: "1" });
    } finally {
      await server.stop();
    }
  });

  it("scans again --every interval until SIGTERM; an account whose directory went reads zero", async () => {
    fs.chmodSync(path.join(tree, "bob", "locked"), 0o755);
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, CLI, "meter", "scan", "--data", data, "--server", "host1", "--dir", tree, "--every", "1s"],
      { env: childEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const scans = async (n: number) => {
      while ((out.match(/^scanned /gm) ?? []).length < n) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    await scans(1);
    fs.rmSync(path.join(tree, "alice"), { recursive: true });
    await scans(3);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toContain("1 accounts, 1 gone since the last scan");
    const server = await TallyServer.start({ dataDir: data });
    try {
      expect(await usage(server, "storage.bytes")).toEqual({ alice: "0", bob: "82" });
    } finally {
      await server.stop();
    }
  });
});
