import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseOwners, scanDirectory } from "./scan-dir.js";
import { scanEvents, withVanished } from "./scan-levels.js";

describe("the space scanner's directory walk", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "tally-scan-"));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const file = (rel: string, bytes: number) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, Buffer.alloc(bytes, 120));
    return p;
  };

  it("sums bytes and files per top-level directory: hard links once, symbolic links not followed", async () => {
    const a = file("alice/one", 100);
    file("alice/deep/er/two", 23);
    fs.linkSync(a, path.join(root, "alice", "again"));
    fs.linkSync(a, path.join(root, "bob-link-of-alice"));
    file("bob/b", 7);
    fs.mkdirSync(path.join(root, "carol"));
    fs.symlinkSync("/etc", path.join(root, "bob", "etc"));
    fs.symlinkSync(path.join(root, "alice"), path.join(root, "dave"));
    file("loose", 5);
    const problems: string[] = [];
    const scan = await scanDirectory(root, {
      by: "dir",
      unattributed: "x",
      onProblem: (_p, why) => problems.push(why),
    });
    expect(problems).toEqual([]);
    expect(Object.fromEntries(scan.accounts)).toEqual({
      alice: { bytes: 123n, files: 2 },
      bob: { bytes: 7n, files: 1 },
      carol: { bytes: 0n, files: 0 },
    });
    // The hard link at the root is outside every account: counted neither there nor twice.
    expect(scan).toMatchObject({ files: 3, hardLinks: 1, symlinks: 2, outside: 2 });
  });

  it("counts by owner through the owners file, unknown uids under the unattributed account", async () => {
    file("x/a", 10);
    const b = file("y/b", 20);
    fs.chownSync(b, 4242, 4242);
    const owners = parseOwners(`# uid account\n${process.getuid?.() ?? 0} AUTH_root\n`, "owners");
    const scan = await scanDirectory(root, { by: "owner", owners, unattributed: "nobody-knows", onProblem: () => {} });
    expect(Object.fromEntries(scan.accounts)).toEqual({
      AUTH_root: { bytes: 10n, files: 1 },
      "nobody-knows": { bytes: 20n, files: 1 },
    });
    expect(Object.fromEntries(scan.unmappedUids)).toEqual({ 4242: 1 });
    expect(() => parseOwners("12 a\nnot a line\n", "owners")).toThrow('owners line 2: expected "UID ACCOUNT"');
  });

  it("reports files that vanish during the scan and goes on", async () => {
    const dir = path.join(root, "busy");
    fs.mkdirSync(dir);
    for (let i = 0; i < 8000; i++) fs.writeFileSync(path.join(dir, `f${i}`), "x");
    file("quiet/q", 3);
    const problems: string[] = [];
    let deleted = false;
    const scan = await scanDirectory(root, {
      by: "dir",
      unattributed: "x",
      onProblem: (_p, why) => problems.push(why),
      onProgress: () => {
        if (deleted) return;
        deleted = true;
        fs.rmSync(dir, { recursive: true });
      },
    });
    expect(problems.length).toBeGreaterThan(0);
    expect(new Set(problems)).toEqual(new Set(["vanished during the scan"]));
    expect(scan.accounts.get("quiet")).toEqual({ bytes: 3n, files: 1 });
    expect((scan.accounts.get("busy")?.files ?? 0) + problems.length).toBe(8000);
  });

  it("sends each level once per scan with ids a resent scan repeats, and zeros for accounts gone since", () => {
    const levels = new Map([["a", { "storage.bytes": 2n ** 60n, "storage.files": 3n }]]);
    const all = withVanished(levels, ["a", "gone"], ["storage.bytes", "storage.files"]);
    const events = scanEvents("s1", "dir:dir:/srv", Date.UTC(2026, 0, 1), all);
    expect(events.map((e) => [e.account, e.metric, e.value])).toEqual([
      ["a", "storage.bytes", "1152921504606846976"],
      ["a", "storage.files", 3],
      ["gone", "storage.bytes", 0],
      ["gone", "storage.files", 0],
    ]);
    expect(scanEvents("s1", "dir:dir:/srv", Date.UTC(2026, 0, 1), all)).toEqual(events);
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
  });
});
