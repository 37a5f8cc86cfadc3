// The command line for real: `tally ingest FILE|-` (summary, rejected lines by number, exit codes, re-ingest),
// `tally serve` refusing a bad or busy address, and a graceful stop with a large POST in flight. What does not depend
// on the store runs on SQLite and on PostgreSQL.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  freshStore,
  goodEvent,
  type IngestAnswer,
  killAll,
  ndjson,
  removeDir,
  runTally,
  STORES,
  type StoreKind,
  TallyServer,
  type TestStore,
  tempDir,
} from "./helpers.js";

const dirs: string[] = [];
const fresh = (label: string) => {
  const dir = tempDir(label);
  dirs.push(dir);
  return dir;
};

const stores: TestStore[] = [];
/** `--store` for a fresh store of the kind, dropped after the file's tests. */
const storeArgs = async (kind: StoreKind): Promise<readonly string[]> => {
  const store = await freshStore(kind);
  stores.push(store);
  return store.args;
};

afterAll(async () => {
  killAll();
  for (const dir of dirs) removeDir(dir);
  for (const store of stores) await store.drop();
});

const summary = (events: number, accepted: number, duplicates: number, rejected: number) =>
  new RegExp(
    `^ingested ${events} events in [0-9]+\\.[0-9] s \\([0-9]+/s\\): ${accepted} accepted, ${duplicates} duplicates, ${rejected} rejected\\n$`,
  );

/** Eight lines: five good events, a blank line, a negative level (line 4) and a line cut short (line 6). */
function mixedFile(): { text: string; good: Record<string, unknown>[]; badId: string } {
  const good = Array.from({ length: 5 }, (_, i) => goodEvent({ server: "srv-cli", value: i + 1 }));
  const bad = goodEvent({ server: "srv-cli", metric: "storage.bytes", value: -1 });
  const lines = [
    JSON.stringify(good[0]),
    JSON.stringify(good[1]),
    "",
    JSON.stringify(bad),
    JSON.stringify(good[2]),
    JSON.stringify(goodEvent()).slice(0, 30),
    `${JSON.stringify(good[3])}\r`,
    JSON.stringify(good[4]),
  ];
  return { text: `${lines.join("\n")}\n`, good, badId: bad.id as string };
}

describe.each(STORES)("tally ingest on %s", (kind) => {
  it("FILE: a summary on stdout, each rejected line by number on stderr, exit 2; again: all duplicates", async () => {
    const dir = fresh("ingest-file");
    const store = await storeArgs(kind);
    const { text, badId } = mixedFile();
    const file = path.join(dir, "events.ndjson");
    fs.writeFileSync(file, text);

    const run = await runTally(["ingest", file, "--data", dir, ...store]);
    expect(run.stdout).toMatch(summary(7, 5, 0, 2));
    expect(run.stderr).toBe(`line 4: value is negative; a level cannot be (id ${badId})\nline 6: not valid JSON\n`);
    expect(run.code).toBe(2);

    const again = await runTally(["ingest", file, "--data", dir, ...store]);
    expect(again.stdout).toMatch(summary(7, 0, 5, 2));
    expect(again.code).toBe(2);
  });

  it("- reads standard input through the same path, and shares the store with FILE and the server", async () => {
    const dir = fresh("ingest-stdin");
    const store = await storeArgs(kind);
    const { text, good } = mixedFile();
    const run = await runTally(["ingest", "-", "--data", dir, ...store], { input: text });
    expect(run.stdout).toMatch(summary(7, 5, 0, 2));
    expect(run.stderr).toMatch(/^line 4: value is negative; a level cannot be \(id [^)]+\)\nline 6: /);
    expect(run.code).toBe(2);

    const file = path.join(dir, "good.ndjson");
    fs.writeFileSync(file, ndjson(good));
    const again = await runTally(["ingest", file, "--data", dir, ...store]);
    expect(again.stdout).toMatch(summary(5, 0, 5, 0));
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);

    const tally = await TallyServer.start({ dataDir: dir, args: store });
    expect(await tally.postNdjson(good)).toEqual({ accepted: 0, duplicates: 5, rejected: [] });
    expect(await tally.stop()).toEqual({ code: 0, signal: null });
  });

  it("a file of good events only exits 0, and again with all duplicates", async () => {
    const dir = fresh("ingest-good");
    const store = await storeArgs(kind);
    const file = path.join(dir, "good.ndjson");
    fs.writeFileSync(file, ndjson(Array.from({ length: 3 }, () => goodEvent())));
    const run = await runTally(["ingest", file, "--data", dir, ...store]);
    expect(run.stdout).toMatch(summary(3, 3, 0, 0));
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const again = await runTally(["ingest", file, "--data", dir, ...store]);
    expect(again.stdout).toMatch(summary(3, 0, 3, 0));
    expect(again.code).toBe(0);
  });

  it("line numbers stay right across batches (25,000 lines, rejections at 12,345 and 20,001)", async () => {
    const dir = fresh("ingest-many");
    const store = await storeArgs(kind);
    const lines = Array.from({ length: 25_000 }, (_, i) => {
      const n = i + 1;
      if (n === 12_345) return JSON.stringify(goodEvent({ id: "bad-time", time: "yesterday" }));
      if (n === 20_001) return JSON.stringify(goodEvent({ id: "bad-metric", metric: "disk.iops" }));
      return JSON.stringify(goodEvent({ server: "srv-many" }));
    });
    const file = path.join(dir, "many.ndjson");
    fs.writeFileSync(file, `${lines.join("\n")}\n`);
    const run = await runTally(["ingest", file, "--data", dir, ...store]);
    expect(run.stdout).toMatch(summary(25_000, 24_998, 0, 2));
    expect(run.stderr).toBe(
      'line 12345: time "yesterday" is not an RFC 3339 time (like 2026-11-23T12:00:00Z) (id bad-time)\n' +
        'line 20001: metric "disk.iops" is not built in and has no stored kind: give its kind ' +
        "(in this event or another of the batch) (id bad-metric)\n",
    );
    expect(run.code).toBe(2);
  });

  it("a file that does not exist: exit 2 and one clear line, no stack trace", async () => {
    const dir = fresh("ingest-missing");
    const store = await storeArgs(kind);
    const missing = path.join(dir, "no-such-file.ndjson");
    const run = await runTally(["ingest", missing, "--data", dir, ...store]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^tally: cannot read ${missing}: ENOENT[^\\n]*\\n$`));
    expect(run.stdout).toBe("");
  });
});

describe("tally ingest on SQLite", () => {
  it("while `tally serve` holds the same data directory: goes through it", async () => {
    const dir = fresh("ingest-busy");
    const tally = await TallyServer.start({ dataDir: dir });
    const run = await runTally(["ingest", "-", "--data", dir], { input: ndjson([goodEvent()]) });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/1 accepted, 0 duplicates, 0 rejected/);
    expect(await tally.stop()).toEqual({ code: 0, signal: null });
  });
});

describe("tally serve", () => {
  it("on an address already in use: exits non-zero saying so", async () => {
    const tally = await TallyServer.start({ dataDir: fresh("serve-first") });
    const listen = new URL(tally.url).host;
    const run = await runTally(["serve", "--listen", listen, "--data", fresh("serve-second")]);
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(`tally: cannot listen on ${listen}: the address is in use\n`);
    // The first one is unharmed.
    expect((await tally.get("/healthz")).status).toBe(200);
    expect(await tally.stop()).toEqual({ code: 0, signal: null });
  });

  it.each([
    ["nonsense", /^tally: --listen \(or TALLY_LISTEN\) must be HOST:PORT, like 127\.0\.0\.1:8124\n$/],
    ["127.0.0.1", /^tally: --listen \(or TALLY_LISTEN\) must be HOST:PORT/],
    ["127.0.0.1:99999", /^tally: --listen \(or TALLY_LISTEN\) has a port above 65535\n$/],
  ])("--listen %s: exits 2 naming --listen", async (listen, message) => {
    const run = await runTally(["serve", "--listen", listen, "--data", fresh("serve-bad-listen")]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it("on a data directory another serve holds: exits non-zero saying so", async () => {
    const dir = fresh("serve-busy");
    const tally = await TallyServer.start({ dataDir: dir });
    const run = await runTally(["serve", "--listen", "127.0.0.1:0", "--data", dir]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^tally: .*tally\.sqlite is in use by another Tally process\n$/);
    expect(await tally.stop()).toEqual({ code: 0, signal: null });
  });
});

describe.each(STORES)("tally serve on %s", (kind) => {
  it("SIGTERM while a large POST is in flight: the POST gets its 200, the process exits 0, the events stay", async () => {
    const dir = fresh("serve-graceful");
    const store = await storeArgs(kind);
    const tally = await TallyServer.start({ dataDir: dir, args: store });
    const events = Array.from({ length: 20_000 }, (_, i) => goodEvent({ server: "srv-graceful", value: i }));
    const body = Buffer.from(ndjson(events));
    const half = Math.floor(body.length / 2);
    const agent = new http.Agent({ keepAlive: false });

    // "Expect: 100-continue" makes the server say when it has the request: SIGTERM goes after that, and the second
    // half of the body only after the server logged that it is stopping. No sleeps: each step waits for the last.
    const answer = await new Promise<{ status: number; body: IngestAnswer }>((resolve, reject) => {
      const req = http.request(
        `${tally.url}/v1/events`,
        {
          method: "POST",
          agent,
          headers: tally.headers({
            "content-type": "application/x-ndjson",
            "content-length": String(body.length),
            expect: "100-continue",
          }),
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as IngestAnswer }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.on("continue", () => {
        req.write(body.subarray(0, half));
        tally.signal("SIGTERM");
        tally.waitForLog("stopping on SIGTERM").then(() => req.end(body.subarray(half)), reject);
      });
      req.flushHeaders();
    });
    agent.destroy();

    expect(answer).toEqual({ status: 200, body: { accepted: 20_000, duplicates: 0, rejected: [] } });
    expect(await tally.exited).toEqual({ code: 0, signal: null });
    expect(tally.output).toContain('"msg":"stopped"');

    const again = await TallyServer.start({ dataDir: dir, args: store });
    expect(await again.postNdjson(events)).toEqual({ accepted: 0, duplicates: 20_000, rejected: [] });
    expect(await again.stop()).toEqual({ code: 0, signal: null });
  });
});
