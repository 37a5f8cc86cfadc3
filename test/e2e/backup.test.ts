// tally backup during ingest and tally restore, over real `tally serve` processes: the copy holds a whole number of
// the batches committed (never half of one), and once given the same events it answers exactly as the original:
// the usage table, swift-stats and the tokens.

import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { killAll, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

const dirs: string[] = [];
afterEach(() => killAll());
afterAll(() => {
  for (const d of dirs) removeDir(d);
});

function dir(label: string): string {
  const d = tempDir(label);
  dirs.push(d);
  return d;
}

const ACCOUNT = "AUTH_bk";
const PER_BATCH = 500;
/** Ingest goes on until the backup has ended and a few batches more, within this many. */
const MAX_BATCHES = 2_000;
const RANGE = "account_id=AUTH_bk&begin_time=2026-11-23T12:00:00Z&end_time=2026-11-23T13:00:00Z";

/** Batch j: PER_BATCH GET requests over two servers, and the account's stored bytes on s1 set to (j + 1) × 1000. */
function batch(j: number): string {
  const lines: string[] = [];
  for (let i = 0; i < PER_BATCH; i++)
    lines.push(
      JSON.stringify({
        id: `bk-${j}-${i}`,
        server: i % 2 === 0 ? "s1" : "s2",
        time: "2026-11-23T12:00:00Z",
        account: ACCOUNT,
        metric: "requests.get",
        value: 1,
      }),
    );
  const at = new Date(Date.UTC(2026, 10, 23, 12, 0, j)).toISOString();
  lines.push(
    JSON.stringify({
      id: `level-${j}`,
      server: "s1",
      time: at,
      account: ACCOUNT,
      metric: "storage.bytes",
      value: (j + 1) * 1000,
    }),
  );
  return `${lines.join("\n")}\n`;
}

async function gets(tally: TallyServer): Promise<number> {
  const a = await tally.get(`/io_sum?${RANGE}`);
  return Number((a.body as [unknown, { GET: string }])[1].GET);
}

async function level(tally: TallyServer): Promise<string | undefined> {
  const a = await tally.get("/usage?format=json&metric=storage.bytes");
  const rows = (a.body as { rows: { account: string; by_server: Record<string, string> }[] }).rows;
  return rows.find((r) => r.account === ACCOUNT)?.by_server.s1;
}

/** What a client sees: the usage table (without its clock), swift-stats' three answers and the token list. */
async function answers(tally: TallyServer): Promise<unknown> {
  const usage = (await tally.get("/usage?format=json&metric=storage.bytes")).body as Record<string, unknown>;
  const servers = (usage.servers as { last_heard?: unknown }[]).map(({ last_heard, ...s }) => s);
  return {
    usage: { ...usage, as_of: undefined, servers },
    io_sum: (await tally.get(`/io_sum?${RANGE}`)).body,
    io_detail: (await tally.get(`/io_detail?${RANGE}`)).body,
    space_detail: (await tally.get(`/space_detail?${RANGE}`)).body,
    tokens: (await tally.get("/v1/tokens")).body,
  };
}

describe("tally backup and tally restore", () => {
  it("copies a SQLite store during ingest through the running server, and the restored copy answers the same", async () => {
    const data = dir("bk-data");
    const tally = await TallyServer.start({ dataDir: data });
    const made = await fetch(`${tally.url}/v1/tokens`, {
      method: "POST",
      headers: tally.headers({ "content-type": "application/json" }),
      body: JSON.stringify({ role: "read", note: "made before the backup" }),
    });
    const readSecret = ((await made.json()) as { secret: string }).secret;

    let sent = 0;
    let endedAt: number | null = null;
    const ingest = (async () => {
      for (; sent < MAX_BATCHES && (endedAt === null || sent < endedAt + 5); sent++)
        await tally.postNdjson(batch(sent));
    })();
    while (sent < 10) await new Promise((r) => setTimeout(r, 20));
    const copy = path.join(dir("bk-copy"), "backup");
    const backedUp = await runTally(["backup", copy, "--url", tally.url, "--data", data]);
    const sentAtEnd = sent;
    endedAt = sent;
    await ingest;
    const total = sent;
    expect(backedUp.stderr).toBe("");
    expect(backedUp.stdout).toMatch(/^backed up tally-derived\.sqlite and tally\.sqlite \(\d+ bytes\) to /);
    expect(backedUp.code).toBe(0);
    expect(fs.readdirSync(copy).sort()).toEqual(["tally-backup.json", "tally-derived.sqlite", "tally.sqlite"]);

    const restoredDir = dir("bk-restored");
    const restored = await runTally(["restore", copy, "--data", restoredDir]);
    expect(restored.stderr).toBe("");
    expect(restored.stdout).toMatch(/^restored the backup of .* 2 servers, \d+ events, 2 tokens/);
    // The admin token's file is the operator's to keep; its hash is in the copy, so the same secret works.
    fs.copyFileSync(path.join(data, "admin-token"), path.join(restoredDir, "admin-token"));
    const again = await TallyServer.start({ dataDir: restoredDir });
    // A whole number of batches, the level of the last of them, and the batches being sent while it was taken.
    const k = (await gets(again)) / PER_BATCH;
    expect(Number.isInteger(k)).toBe(true);
    expect(k).toBeGreaterThanOrEqual(10);
    expect(k).toBeLessThanOrEqual(sentAtEnd + 1);
    // Taken while ingest went on: the copy has fewer batches than the original got.
    expect(k).toBeLessThan(total);
    expect(await level(again)).toBe(String(k * 1000));
    const readOnCopy = await fetch(`${again.url}/usage?format=json`, {
      headers: { authorization: `Bearer ${readSecret}` },
    });
    expect(readOnCopy.status).toBe(200);

    // Given every event, the copy answers as the original, which ingested them all.
    for (let j = 0; j < total; j++) await again.postNdjson(batch(j));
    expect(await gets(again)).toBe(total * PER_BATCH);
    expect(await answers(again)).toEqual(await answers(tally));

    // The copy directory is a data directory too: tally serve starts on it as it is.
    fs.copyFileSync(path.join(data, "admin-token"), path.join(copy, "admin-token"));
    const onCopy = await TallyServer.start({ dataDir: copy });
    expect(await gets(onCopy)).toBe(k * PER_BATCH);
    await Promise.all([onCopy.stop(), again.stop()]);

    // Refusals that change nothing.
    const notEmpty = await runTally(["backup", copy, "--url", tally.url, "--data", data]);
    expect(notEmpty.code).not.toBe(0);
    expect(notEmpty.stderr).toMatch(/is not empty: give a new or empty directory/);
    const held = await runTally(["backup", path.join(dir("bk-held"), "b"), "--data", data]);
    expect(held.code).not.toBe(0);
    expect(held.stderr).toMatch(/pass --url/);
    const over = await runTally(["restore", copy, "--data", restoredDir]);
    expect(over.code).not.toBe(0);
    expect(over.stderr).toMatch(/tally\.sqlite exists: restore into a new data directory/);
    await tally.stop();
  });

  it("points a PostgreSQL store to pg_dump", async () => {
    const out = await runTally([
      "backup",
      path.join(dir("bk-pg"), "b"),
      "--store",
      "postgres://postgres@127.0.0.1:5432/test",
    ]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/pg_dump/);
  });
});
