// Tokens end to end: the first admin token, what start-up refuses, the token commands, and no secret in any log.

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { killAll, tempDir as makeTempDir, removeDir, runTally, TallyServer } from "./helpers.js";

const dirs: string[] = [];
const running: TallyServer[] = [];

function tempDir(): string {
  const dir = makeTempDir("auth");
  dirs.push(dir);
  return dir;
}

async function serve(dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<TallyServer> {
  const server = await TallyServer.start({ dataDir: dir, args, env });
  running.push(server);
  return server;
}

const tally = (args: string[], env: Record<string, string> = {}) => runTally(args, { env });

afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
  killAll();
  for (const d of dirs.splice(0)) removeDir(d);
});

describe("the first admin token", () => {
  it("is made on first start, in a file only its owner can read, named in the log without the secret", async () => {
    const dir = tempDir();
    const s = await serve(dir);
    const file = path.join(dir, "admin-token");
    const secret = fs.readFileSync(file, "utf8").trim();
    expect(secret).toMatch(/^tly_[A-Za-z0-9_-]{43}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(s.output).toContain(file);
    const res = await fetch(`${s.url}/v1/tokens`, { headers: { "X-Auth-Token": secret } });
    expect(res.status).toBe(200);
    const { tokens } = (await res.json()) as { tokens: { role: string }[] };
    expect(tokens.map((t) => t.role)).toEqual(["admin"]);
    expect(s.output).not.toContain(secret);
  });

  it("is not made again on the next start", async () => {
    const dir = tempDir();
    await (await serve(dir)).stop();
    const first = fs.readFileSync(path.join(dir, "admin-token"), "utf8");
    const s = await serve(dir);
    expect(fs.readFileSync(path.join(dir, "admin-token"), "utf8")).toBe(first);
    expect(s.output).not.toContain("created the first admin token");
    const res = await fetch(`${s.url}/v1/tokens`, { headers: { "X-Auth-Token": first.trim() } });
    expect(((await res.json()) as { tokens: unknown[] }).tokens).toHaveLength(1);
  });
});

describe("start-up", () => {
  it("refuses a non-loopback address with local reads on, and says how to go on", async () => {
    const dir = tempDir();
    const out = await tally(["serve", "--listen", "0.0.0.0:0", "--data", dir]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/refusing to listen on 0\.0\.0\.0:0 with local reads on/);
    expect(out.stderr).toContain("--no-local-reads");
    const viaEnv = await tally(["serve", "--listen", "0.0.0.0:0", "--data", dir], { TALLY_LOCAL_READS: "true" });
    expect(viaEnv.code).not.toBe(0);
  });

  it("listens on a non-loopback address with --no-local-reads or TALLY_LOCAL_READS=false, and asks every request for a token", async () => {
    for (const [flags, env] of [
      [["--no-local-reads"], {}],
      [[], { TALLY_LOCAL_READS: "false" }],
    ] as [string[], Record<string, string>][]) {
      const s = await serve(tempDir(), ["--listen", "0.0.0.0:0", ...flags], env);
      const port = new URL(s.url).port;
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(401);
      await s.stop();
    }
  });

  it("refuses a TALLY_LOCAL_READS that is not a boolean", async () => {
    const out = await tally(["serve", "--data", tempDir()], { TALLY_LOCAL_READS: "maybe" });
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/TALLY_LOCAL_READS/);
  });
});

describe("tally token", () => {
  it("creates, lists and revokes tokens in the data directory, showing each secret once", async () => {
    const dir = tempDir();
    await (await serve(dir)).stop();
    const created = await tally([
      "token",
      "create",
      "--role",
      "ingest",
      "--server",
      "s1",
      "--server",
      "s2",
      "--note",
      "proxies",
      "--data",
      dir,
    ]);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^tly_[A-Za-z0-9_-]{43}$/);
    const id = /created token (tok_[0-9a-f]+) \(role ingest, servers s1, s2\)/.exec(created.stderr)?.[1];
    expect(id).toBeDefined();

    const list = await tally(["token", "list", "--data", dir]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+ingest\\s+-\\s+s1,s2\\s+\\S+ \\S+\\s+-\\s+proxies`));
    expect(list.stdout).not.toContain(secret);
    expect(list.stdout).not.toContain(fs.readFileSync(path.join(dir, "admin-token"), "utf8").trim());

    const revoked = await tally(["token", "revoke", id as string, "--data", dir]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${id}`);
    const json = JSON.parse((await tally(["token", "list", "--json", "--data", dir])).stdout) as {
      tokens: { id: string; revokedAt: string | null }[];
    };
    expect(json.tokens.find((t) => t.id === id)?.revokedAt).not.toBeNull();

    const s = await serve(dir, ["--no-local-reads"]);
    const res = await fetch(`${s.url}/healthz`, { headers: { "X-Auth-Token": secret } });
    expect(res.status).toBe(401);
  });

  it("refuses bad specs and unknown ids with a clear message", async () => {
    const dir = tempDir();
    const noAccount = await tally(["token", "create", "--role", "account", "--data", dir]);
    expect(noAccount.code).toBe(2);
    expect(noAccount.stderr).toMatch(/account is required/);
    const badRole = await tally(["token", "create", "--role", "root", "--data", dir]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toMatch(/--role must be one of admin, ingest, read, account/);
    const unknown = await tally(["token", "revoke", "tok_nope", "--data", dir]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/no token with id tok_nope/);
  });

  it("while serve runs on SQLite, goes through it by itself or through --url", async () => {
    const dir = tempDir();
    const s = await serve(dir);
    const direct = await tally(["token", "list", "--data", dir]);
    expect(direct.stderr).toBe("");
    expect(direct.code).toBe(0);
    expect(direct.stdout).toMatch(/first admin token/);

    const created = await tally([
      "token",
      "create",
      "--role",
      "account",
      "--account",
      "AUTH_x",
      "--data",
      dir,
      "--url",
      s.url,
    ]);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    const list = await tally(["token", "list", "--data", dir, "--url", s.url, "--json"]);
    const tokens = (JSON.parse(list.stdout) as { tokens: { id: string; account: string | null }[] }).tokens;
    const mine = tokens.find((t) => t.account === "AUTH_x");
    expect(mine).toBeDefined();
    const q = "account_id=AUTH_x;begin_time=2012-10-22%2008:00:00;end_time=2012-10-22%2010:00:00";
    expect((await fetch(`${s.url}/io_sum?${q}`, { headers: { "X-Auth-Token": secret } })).status).toBe(200);
    expect((await tally(["token", "revoke", mine?.id as string, "--data", dir, "--url", s.url])).code).toBe(0);
    expect((await fetch(`${s.url}/io_sum?${q}`, { headers: { "X-Auth-Token": secret } })).status).toBe(401);
    expect(s.output).not.toContain(secret);
  });
});
