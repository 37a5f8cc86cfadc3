// A log that cannot be written never stops the server: with standard output on /dev/full (every write fails with
// ENOSPC, as on a full disk) or on a pipe nobody reads, `tally serve` answers, ingests, counts the lines it could not
// write in /healthz, and stops on SIGTERM.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { goodEvent, killAll, removeDir, TallyServer, tempDir } from "./helpers.js";

const dirs: string[] = [];

afterAll(() => {
  killAll();
  for (const dir of dirs) removeDir(dir);
});

/** On /dev/shm where there is one: the hundreds of commits below need not wait for a disk. */
function dataDir(label: string): string {
  const dir = fs.existsSync("/dev/shm") ? fs.mkdtempSync(path.join("/dev/shm", `tally-e2e-${label}-`)) : tempDir(label);
  dirs.push(dir);
  return dir;
}

async function droppedLines(tally: TallyServer): Promise<number> {
  const health = await tally.get("/healthz");
  expect(health.status).toBe(200);
  const body = health.body as { status: string; log: { dropped: number } };
  expect(body.status).toBe("ok");
  return body.log.dropped;
}

/** Each creation logs a line: a way to make the server write to its log on demand. */
async function createTokens(tally: TallyServer, count: number): Promise<void> {
  const one = async (i: number) => {
    const res = await fetch(`${tally.url}/v1/tokens`, {
      method: "POST",
      headers: tally.headers({ "content-type": "application/json" }),
      body: JSON.stringify({ role: "read", note: `log filler ${i}` }),
    });
    expect(res.status).toBe(201);
    await res.body?.cancel();
  };
  for (let i = 0; i < count; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, count - i) }, (_, j) => one(i + j)));
  }
}

/** What a non-blocking pipe holds now. */
function readAvailable(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let n = 0;
    try {
      n = fs.readSync(fd, buffer);
    } catch {
      // EAGAIN: nothing more for now.
    }
    if (n === 0) return Buffer.concat(chunks).toString("utf8");
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
}

it("serves with its log on a full device, counts the dropped lines in /healthz, and stops on SIGTERM", async () => {
  const full = fs.openSync("/dev/full", "w");
  let tally: TallyServer;
  try {
    tally = await TallyServer.startWithStdout(full, { dataDir: dataDir("log-full") });
  } finally {
    fs.closeSync(full);
  }
  // The lines logged at start (the first admin token, where it listens) were dropped.
  const atStart = await droppedLines(tally);
  expect(atStart).toBeGreaterThan(0);

  const answer = await tally.postNdjson([goodEvent(), goodEvent(), goodEvent()]);
  expect(answer).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
  await createTokens(tally, 3);
  expect(await droppedLines(tally)).toBe(atStart + 3);
  expect(await droppedLines(tally)).toBe(atStart + 3);

  expect(await tally.stop()).toEqual({ code: 0, signal: null });
});

it("serves with its log on a pipe nobody reads, and stops on SIGTERM", async () => {
  const dir = dataDir("log-stuck");
  const fifo = path.join(dir, "log-fifo");
  execFileSync("mkfifo", [fifo]);
  // Held open and never read: the pipe fills and stays full.
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(fifo, fs.constants.O_WRONLY);
  try {
    let tally: TallyServer;
    try {
      tally = await TallyServer.startWithStdout(writer, { dataDir: dir });
    } finally {
      fs.closeSync(writer);
    }
    // More lines than a pipe holds, fewer than the server holds for a reader that is behind: none dropped yet.
    await createTokens(tally, 600);
    expect(await droppedLines(tally)).toBe(0);
    expect(await tally.postNdjson([goodEvent()])).toMatchObject({ accepted: 1 });
    expect(await tally.stop()).toEqual({ code: 0, signal: null });
    // The pipe did fill: its last lines were still held when the server stopped.
    expect(readAvailable(reader)).not.toContain('"msg":"stopped"');
  } finally {
    fs.closeSync(reader);
  }
});
