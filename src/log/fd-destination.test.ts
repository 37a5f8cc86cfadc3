import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FdDestination, makeNonBlocking } from "./fd-destination.js";

let dir: string;
const opened: number[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-log-"));
});

afterEach(() => {
  for (const fd of opened.splice(0)) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(file: string, flags: number): number {
  const fd = fs.openSync(file, flags);
  opened.push(fd);
  return fd;
}

/** JSON lines of varied lengths, some longer than a pipe writes at once, each saying its place. */
function line(n: number): string {
  return `${JSON.stringify({ n, pad: "x".repeat((n * 997) % 6000) })}\n`;
}

/** A named pipe, both ends open without blocking, and nobody reading yet. */
function pipe(): { read: number; write: number } {
  const fifo = path.join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const read = open(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const write = open(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  return { read, write };
}

/** Everything the pipe holds now. */
function readAll(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buffer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EAGAIN") break;
      throw error;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
  return Number.parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? "0", 8);
}

describe("FdDestination", () => {
  it("writes every line to a file, in order", () => {
    const file = path.join(dir, "log");
    const destination = new FdDestination(open(file, fs.constants.O_WRONLY | fs.constants.O_CREAT));
    const lines = Array.from({ length: 500 }, (_, n) => line(n));
    for (const l of lines) destination.write(l);
    expect(destination.dropped).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(lines.join(""));
  });

  it("counts every line written to a full device as dropped, and never throws", () => {
    const destination = new FdDestination(open("/dev/full", fs.constants.O_WRONLY));
    for (let n = 0; n < 100; n++) destination.write(line(n));
    expect(destination.dropped).toBe(100);
    expect(destination.held).toBe(0);
  });

  it("drops lines to a pipe nobody reads from any more (EPIPE)", () => {
    const { read, write } = pipe();
    fs.closeSync(opened.splice(opened.indexOf(read), 1)[0] as number);
    const destination = new FdDestination(write);
    for (let n = 0; n < 10; n++) destination.write(line(n));
    expect(destination.dropped).toBe(10);
  });

  it("holds lines for a reader that is behind, up to a bound, and writes them whole and in order once it reads", async () => {
    const { read, write } = pipe();
    const destination = new FdDestination(write, { maxHeldBytes: 64 * 1024, retryMs: 5 });
    const total = 400;
    for (let n = 0; n < total; n++) destination.write(line(n));
    expect(destination.held).toBeGreaterThan(0);
    expect(destination.dropped).toBeGreaterThan(0);

    let text = "";
    while (destination.held > 0) {
      text += readAll(read);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    text += readAll(read);
    const numbers = text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => (JSON.parse(l) as { n: number }).n);
    expect(numbers.length + destination.dropped).toBe(total);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(new Set(numbers).size).toBe(numbers.length);
    // The lines before the reader fell behind were all written.
    expect(numbers.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
  });

  it("starts a new line after one cut short by a failure", () => {
    const file = path.join(dir, "log");
    const fd = open(file, fs.constants.O_WRONLY | fs.constants.O_CREAT);
    const destination = new FdDestination(fd);
    const writeSync = fs.writeSync;
    let calls = 0;
    // The disk fills in the middle of the second line, and has room again for the third.
    const cut = (target: number, bytes: Buffer): number => {
      calls++;
      if (calls === 2) return writeSync(target, bytes.subarray(0, 5));
      if (calls === 3) throw Object.assign(new Error("no space"), { code: "ENOSPC" });
      return writeSync(target, bytes);
    };
    fs.writeSync = cut as typeof fs.writeSync;
    try {
      destination.write(line(1));
      destination.write(line(2));
      destination.write(line(3));
    } finally {
      fs.writeSync = writeSync;
    }
    expect(destination.dropped).toBe(1);
    expect(fs.readFileSync(file, "utf8")).toBe(`${line(1)}${line(2).slice(0, 5)}\n${line(3)}`);
  });
});

describe("makeNonBlocking", () => {
  it("makes a blocking pipe non-blocking, so that a reader that does not read costs lines, not a hung process", () => {
    const fifo = path.join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    open(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    // Not in `opened`: once made non-blocking, its stream handle owns the descriptor.
    const write = fs.openSync(fifo, fs.constants.O_WRONLY);
    expect(fdFlags(write) & fs.constants.O_NONBLOCK).toBe(0);
    makeNonBlocking(write);
    expect(fdFlags(write) & fs.constants.O_NONBLOCK).not.toBe(0);
    const destination = new FdDestination(write, { maxHeldBytes: 16 * 1024 });
    for (let n = 0; n < 200; n++) destination.write(line(n));
    expect(destination.dropped).toBeGreaterThan(0);
  });

  it("leaves a regular file as it is", () => {
    const fd = open(path.join(dir, "log"), fs.constants.O_WRONLY | fs.constants.O_CREAT);
    makeNonBlocking(fd);
    expect(fdFlags(fd) & fs.constants.O_NONBLOCK).toBe(0);
  });
});
