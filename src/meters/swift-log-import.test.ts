import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { swiftAccessLine, swiftLogWorkload } from "../../bench/swift-log-workload.js";
import { ingestEvents } from "../ingest/ingest-events.js";
import type { UsageStore } from "../store/port.js";
import { TEST_STORES } from "../store/test-stores.js";
import type { SendEvents } from "./send-events.js";
import { followSwiftLog } from "./swift-log-follow.js";
import { importSwiftLog, type SwiftLogImportOptions } from "./swift-log-import.js";
import { SwiftLogPositions } from "./swift-log-positions.js";
import { emptyCounts } from "./swift-log-stream.js";

const SAMPLE = fs.readFileSync(new URL("./testdata/swift-proxy-access-sample.txt", import.meta.url), "utf8");
const START = Date.UTC(2026, 10, 23, 8);

function sendTo(store: UsageStore): SendEvents {
  return async (events) => {
    const r = await ingestEvents(
      store,
      events.map((raw) => ({ raw })),
    );
    return { accepted: r.accepted, duplicates: r.duplicates, rejected: r.rejected.map((x) => x.reason) };
  };
}

/** "account metric" → the sum of its counter rollups, over every hour and server. */
async function totals(store: UsageStore): Promise<Map<string, bigint>> {
  const sums = new Map<string, bigint>();
  for (const row of await store.allRollups()) {
    const key = `${row.account} ${row.metric}`;
    sums.set(key, (sums.get(key) ?? 0n) + (row.sum ?? 0n));
  }
  return sums;
}

function sumOf(a: Map<string, bigint>, b: Map<string, bigint>): Map<string, bigint> {
  const sums = new Map(a);
  for (const [key, n] of b) sums.set(key, (sums.get(key) ?? 0n) + n);
  return sums;
}

describe.each(TEST_STORES)("tally import swift-log on %s", (_name, open) => {
  let store: UsageStore;
  let dir: string;
  const positionsFiles: SwiftLogPositions[] = [];

  beforeEach(async () => {
    store = await open();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-swift-log-"));
  });
  afterEach(async () => {
    for (const p of positionsFiles.splice(0)) p.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Imports a file with a positions file of its own (`state` names it: the same name shares it). */
  async function run(file: string, state = "positions", extra: Partial<SwiftLogImportOptions> = {}) {
    const positions = SwiftLogPositions.open(path.join(dir, `${state}.json`));
    const counts = emptyCounts();
    const bad: string[] = [];
    try {
      const done = await importSwiftLog(file, {
        server: "swift-1",
        unattributed: "unattributed",
        positions,
        send: sendTo(store),
        counts,
        onBadLine: (_name, line, reason) => bad.push(`${line}: ${reason}`),
        onRejected: (reason) => bad.push(`refused ${reason}`),
        ...extra,
      });
      return { counts, bad, done };
    } finally {
      positions.close();
    }
  }

  function write(name: string, text: string | Buffer): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  it("counts the real sample's requests per account and method, skipping subrequests and other servers", async () => {
    const { counts, bad } = await run(write("sample.log", SAMPLE));
    expect(bad).toEqual([]);
    expect(counts).toMatchObject({ lines: 40, requests: 11, subrequests: 3, bad: 0 });
    expect(Object.fromEntries(await totals(store))).toEqual({
      "unattributed requests.get": 4n,
      "AUTH_test requests.get": 2n,
      "AUTH_test requests.head": 2n,
      "AUTH_test requests.put": 2n,
      "AUTH_test bytes.in": 10000n,
      "AUTH_test bytes.out": 10131n,
      "AUTH_u1 requests.put": 1n,
    });
  });

  it("changes nothing when the same file is imported again, with or without the positions file", async () => {
    const { text, totals: expected } = swiftLogWorkload({ lines: 3000, accounts: 7, start: START, hours: 3 });
    const file = write("big.log", `${text.join("\n")}\n`);
    const first = await run(file, "a", { blockBytes: 50_000 });
    expect(first.counts.requests).toBe(expected.requests);
    expect(await totals(store)).toEqual(expected.sums);
    // The same positions: nothing is read again.
    const again = await run(file, "a", { blockBytes: 50_000 });
    expect(again.counts).toMatchObject({ requests: 0, events: 0, alreadyImported: 3000 });
    // No positions: the same ranges give the same ids, every event a duplicate.
    const fresh = await run(file, "b", { blockBytes: 50_000 });
    expect(fresh.counts.events).toBeGreaterThan(0);
    expect(fresh.counts).toMatchObject({ accepted: 0, duplicates: first.counts.events });
    expect(await totals(store)).toEqual(expected.sums);
  });

  it("imports a file that grew since, and a gzipped copy of its beginning, without counting a line twice", async () => {
    const { text, totals: expected } = swiftLogWorkload({ lines: 2000, accounts: 5, start: START, hours: 2, seed: 7 });
    const head = `${text.slice(0, 700).join("\n")}\n`;
    await run(write("part.log.gz", gzipSync(head)));
    const file = write("live.log", head);
    expect((await run(file)).counts.requests).toBe(0);
    fs.appendFileSync(file, `${text.slice(700, 1500).join("\n")}\n${text[1500]}`);
    const grown = await run(file);
    // The unfinished last line is left for the next import.
    expect(grown.done.left).toBe((text[1500] as string).length);
    fs.appendFileSync(file, `\n${text.slice(1501).join("\n")}\n`);
    await run(file);
    expect(await totals(store)).toEqual(expected.sums);
  });

  it("sends a range again, with the same ids, when the importer stopped after sending and before noting it", async () => {
    const { text, totals: expected } = swiftLogWorkload({ lines: 1000, accounts: 4, start: START, hours: 1, seed: 3 });
    const file = write("crash.log", `${text.join("\n")}\n`);
    let calls = 0;
    const dying: SendEvents = async (events) => {
      const result = await sendTo(store)(events);
      if (++calls === 2) throw new Error("killed after the commit");
      return result;
    };
    await expect(run(file, "p", { blockBytes: 30_000, send: dying })).rejects.toThrow("killed");
    const second = await run(file, "p", { blockBytes: 30_000 });
    expect(second.counts.duplicates).toBeGreaterThan(0);
    expect(await totals(store)).toEqual(expected.sums);
  });

  it("reports unparseable lines with their line numbers and imports the rest", async () => {
    const good = swiftAccessLine({ time: START, method: "GET", path: "/v1/AUTH_a/c/o", bytesOut: 7 });
    const lines = [good, "garbage here", good, `${good.slice(0, 60)}`, "", `${good}\r`];
    const { counts, bad } = await run(write("bad.log", `${lines.join("\n")}\n`));
    expect(bad).toEqual(["2: is not a Swift proxy access line", expect.stringMatching(/^4: has \d+ fields/)]);
    expect(counts).toMatchObject({ lines: 6, requests: 3, bad: 2 });
    expect(Object.fromEntries(await totals(store))).toEqual({
      "AUTH_a requests.get": 3n,
      "AUTH_a bytes.out": 21n,
    });
  });
});

describe("tally import swift-log --follow", () => {
  let store: UsageStore;
  let dir: string;

  beforeEach(async () => {
    store = await (TEST_STORES[0] as (typeof TEST_STORES)[number])[1]();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-swift-follow-"));
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function follow(file: string, during: () => Promise<void>) {
    const positions = SwiftLogPositions.open(path.join(dir, "positions.json"));
    const controller = new AbortController();
    const counts = emptyCounts();
    const notes: string[] = [];
    const following = followSwiftLog([file], {
      server: "swift-1",
      unattributed: "unattributed",
      positions,
      send: sendTo(store),
      counts,
      onBadLine: (_f, line, reason) => notes.push(`${line}: ${reason}`),
      onRejected: (reason) => notes.push(reason),
      onNote: (note) => notes.push(note),
      flushMs: 100,
      pollMs: 20,
      signal: controller.signal,
    });
    try {
      await during();
    } finally {
      controller.abort();
      await following;
      positions.close();
    }
    return { counts, notes };
  }

  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 300));

  it("reads a growing file through rotation and truncation, and a restart goes on where it stopped", async () => {
    const { text, totals: expected } = swiftLogWorkload({ lines: 4000, accounts: 6, start: START, hours: 2, seed: 11 });
    const part = (from: number, to: number) => `${text.slice(from, to).join("\n")}\n`;
    const file = path.join(dir, "proxy.log");
    const first = await follow(file, async () => {
      await settle();
      fs.writeFileSync(file, part(0, 500));
      await settle();
      // A line written in two pieces is read once it is whole.
      const line = `${text[500]}\n`;
      fs.appendFileSync(file, line.slice(0, 40));
      await settle();
      fs.appendFileSync(file, line.slice(40) + part(501, 1000));
      await settle();
      // logrotate's default: rename, then the writer opens a new file.
      fs.renameSync(file, `${file}.1`);
      fs.appendFileSync(`${file}.1`, part(1000, 1200));
      fs.writeFileSync(file, part(1200, 1800));
      await settle();
    });
    expect(first.notes).toContain(`${file}: rotated; read the old file to its end, following the new one`);
    // Stopped and started again: the new file goes on from where it was.
    fs.appendFileSync(file, part(1800, 2500));
    const second = await follow(file, async () => {
      await settle();
      fs.appendFileSync(file, part(2500, 3000));
      await settle();
      // copytruncate: the file is emptied in place and written again from its start.
      fs.truncateSync(file, 0);
      await settle();
      fs.appendFileSync(file, part(3000, 4000));
      await settle();
    });
    expect(second.notes).toContain(`${file}: truncated; reading it again from its start`);
    expect(second.counts.alreadyImported).toBe(600);
    expect(await totals(store)).toEqual(expected.sums);
  });

  /** What rotations do to `file` while the importer is stopped; the old file then gets `late` (the writer's last lines). */
  const rotations: [string, (file: string, late: string) => void][] = [
    [
      "renamed (logrotate's default)",
      (file, late) => {
        fs.renameSync(file, `${file}.1`);
        fs.appendFileSync(`${file}.1`, late);
      },
    ],
    [
      "renamed and gzipped",
      (file, late) => {
        fs.appendFileSync(file, late);
        fs.writeFileSync(`${file}.1.gz`, gzipSync(fs.readFileSync(file)));
        fs.rmSync(file);
      },
    ],
    [
      "copied and truncated (copytruncate)",
      (file, late) => {
        fs.appendFileSync(file, late);
        fs.copyFileSync(file, `${file}-20261206`);
        fs.truncateSync(file, 0);
      },
    ],
  ];

  it.each(rotations)(
    "reads the rest of a log %s while the importer was stopped, then the new one",
    async (_, rotate) => {
      const { text, totals: expected } = swiftLogWorkload({
        lines: 3000,
        accounts: 5,
        start: START,
        hours: 2,
        seed: 21,
      });
      const part = (from: number, to: number) => `${text.slice(from, to).join("\n")}\n`;
      const file = path.join(dir, "proxy.log");
      // An older rotation of another log, which must not be taken for this one.
      fs.writeFileSync(
        `${file}.2.gz`,
        gzipSync(`${swiftAccessLine({ time: START, method: "GET", path: "/v1/AUTH_x/c" })}\n`),
      );
      fs.writeFileSync(file, part(0, 1000));
      const first = await follow(file, settle);
      expect(first.counts.lines).toBe(1000);
      fs.appendFileSync(file, part(1000, 1400));
      rotate(file, part(1400, 1500));
      fs.appendFileSync(file, part(1500, 2200));
      const second = await follow(file, async () => {
        await settle();
        fs.appendFileSync(file, part(2200, 3000));
        await settle();
      });
      expect(second.notes).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^${file}: ${file}[.-][^ ]+ is the log followed there before \\([0-9a-f]+\\); reading it from byte ${Buffer.byteLength(part(0, 1000))}$`,
          ),
        ),
      );
      expect(second.notes.filter((n) => n.startsWith("warning"))).toEqual([]);
      // Every line once: the old file's first 1000 lines were imported before, the other 2000 now.
      expect(second.counts).toMatchObject({ lines: 2000, alreadyImported: 1000 });
      expect(first.counts.requests + second.counts.requests).toBe(expected.requests);
      expect(await totals(store)).toEqual(expected.sums);
      // The positions now name the new file: a third start looks for nothing and counts nothing.
      const third = await follow(file, settle);
      expect(third.notes).toEqual([`following ${file}`]);
      expect(third.counts).toMatchObject({ requests: 0, alreadyImported: 1500 });
    },
  );

  it("reads the rotations made after the log followed before, oldest first, when it was rotated twice", async () => {
    const { text, totals: expected } = swiftLogWorkload({ lines: 3000, accounts: 5, start: START, hours: 3, seed: 51 });
    const part = (from: number, to: number) => `${text.slice(from, to).join("\n")}\n`;
    const file = path.join(dir, "proxy.log");
    fs.writeFileSync(file, part(0, 500));
    await follow(file, settle);
    // While stopped: two days of logrotate with compress and delaycompress, and a third log.
    fs.appendFileSync(file, part(500, 800));
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, part(800, 1600));
    fs.writeFileSync(`${file}.2.gz`, gzipSync(fs.readFileSync(`${file}.1`)));
    fs.rmSync(`${file}.1`);
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, part(1600, 2400));
    const second = await follow(file, async () => {
      await settle();
      fs.appendFileSync(file, part(2400, 3000));
      await settle();
    });
    const reading = second.notes.filter((n) => n.includes(" reading it"));
    expect(reading).toEqual([
      expect.stringMatching(new RegExp(`^${file}: ${file}.2.gz is the log followed there before`)),
      `${file}: ${file}.1 was rotated after it while the importer was stopped; reading it`,
    ]);
    expect(second.counts).toMatchObject({ lines: 2500, alreadyImported: 500 });
    expect(await totals(store)).toEqual(expected.sums);
  });

  it("finds a renamed file in which no request had been read yet by its inode", async () => {
    const old = swiftLogWorkload({ lines: 400, accounts: 3, start: START, hours: 1, seed: 37 });
    const now = swiftLogWorkload({ lines: 300, accounts: 3, start: START, hours: 1, seed: 38 });
    const file = path.join(dir, "proxy.log");
    const other = "<30>object-updater: Object update sweep completed: 0.01s\n";
    fs.writeFileSync(file, other);
    // Nothing counts until the first access line: only the file's identity is noted.
    const first = await follow(file, settle);
    expect(first.counts).toMatchObject({ lines: 0, events: 0 });
    fs.appendFileSync(file, `${old.text.join("\n")}\n`);
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, `${now.text.join("\n")}\n`);
    const second = await follow(file, settle);
    expect(second.notes).toContain(`${file}: ${file}.1 is the file followed there before; reading it from byte 0`);
    expect(second.counts.requests).toBe(old.totals.requests + now.totals.requests);
    expect(await totals(store)).toEqual(sumOf(old.totals.sums, now.totals.sums));
  });

  it("says what is lost when the log followed before is gone, and goes on with the new one", async () => {
    const old = swiftLogWorkload({ lines: 1000, accounts: 4, start: START, hours: 1, seed: 31 });
    const lost = swiftLogWorkload({ lines: 300, accounts: 4, start: START, hours: 1, seed: 32 });
    const now = swiftLogWorkload({ lines: 800, accounts: 4, start: START, hours: 1, seed: 33 });
    const file = path.join(dir, "proxy.log");
    const oldText = `${old.text.join("\n")}\n`;
    fs.writeFileSync(file, oldText);
    await follow(file, settle);
    const kept = JSON.parse(fs.readFileSync(path.join(dir, "positions.json"), "utf8"));
    const stream = kept.following[file].log.stream;
    fs.appendFileSync(file, `${lost.text.join("\n")}\n`);
    fs.rmSync(file);
    fs.writeFileSync(file, `${now.text.join("\n")}\n`);
    const second = await follow(file, settle);
    expect(second.notes).toContain(
      `warning: ${file}: the log followed there before (${stream}) is neither there nor among proxy.log.* or ` +
        `proxy.log-*; what was written to it after byte ${Buffer.byteLength(oldText)} (line 1000) is not counted`,
    );
    expect(second.counts).toMatchObject({ lines: 800, requests: now.totals.requests });
    expect(await totals(store)).toEqual(sumOf(old.totals.sums, now.totals.sums));
  });

  it("says what is lost when the log followed before cannot be read (a gzip cut short), and goes on", async () => {
    const old = swiftLogWorkload({ lines: 600, accounts: 4, start: START, hours: 1, seed: 34 });
    const lost = swiftLogWorkload({ lines: 400, accounts: 4, start: START, hours: 1, seed: 36 });
    const now = swiftLogWorkload({ lines: 500, accounts: 4, start: START, hours: 1, seed: 35 });
    const file = path.join(dir, "proxy.log");
    const oldText = `${old.text.join("\n")}\n`;
    fs.writeFileSync(file, oldText);
    await follow(file, settle);
    fs.appendFileSync(file, `${lost.text.join("\n")}\n`);
    const gzipped = gzipSync(fs.readFileSync(file));
    fs.writeFileSync(`${file}.1.gz`, gzipped.subarray(0, gzipped.length - 100));
    fs.rmSync(file);
    fs.writeFileSync(file, `${now.text.join("\n")}\n`);
    const second = await follow(file, settle);
    expect(second.notes).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^warning: ${file}: cannot read ${file}.1.gz: .*; what was written to it after byte ` +
            `${Buffer.byteLength(oldText)} \\(line 600\\) is not counted$`,
        ),
      ),
    );
    expect(second.notes).toContain(`following ${file}`);
    expect(await totals(store)).toEqual(sumOf(old.totals.sums, now.totals.sums));
  });

  it("refuses a positions file whose followed files are not what it writes, naming it", () => {
    const file = path.join(dir, "positions.json");
    fs.writeFileSync(file, JSON.stringify({ version: 1, streams: {}, following: { "/x": { identity: 1 } } }));
    expect(() => SwiftLogPositions.open(file)).toThrow(`${file} is not a positions file of this Tally`);
  });

  it("copytruncate while following: lines written after the last read are read from the copy", async () => {
    const { text, totals: expected } = swiftLogWorkload({ lines: 2000, accounts: 5, start: START, hours: 1, seed: 41 });
    const part = (from: number, to: number) => `${text.slice(from, to).join("\n")}\n`;
    const file = path.join(dir, "proxy.log");
    fs.writeFileSync(file, part(0, 800));
    const { notes } = await follow(file, async () => {
      await settle();
      // All at once, so that the follower cannot read in between: written, copied, truncated.
      fs.appendFileSync(file, part(800, 1000));
      fs.copyFileSync(file, `${file}.1`);
      fs.truncateSync(file, 0);
      await settle();
      fs.appendFileSync(file, part(1000, 2000));
      await settle();
    });
    expect(notes).toContain(`${file}: truncated; reading it again from its start`);
    expect(notes).toContainEqual(
      expect.stringMatching(new RegExp(`^${file}: ${file}.1 is the log followed there before`)),
    );
    expect(await totals(store)).toEqual(expected.sums);
  });
});
