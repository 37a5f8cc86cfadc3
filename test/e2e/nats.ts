// End-to-end support for JetStream: a nats-server of the test's own (to stop and restart), names no other test
// uses on the shared broker, and events to publish.

import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { connect } from "nats";
import { freePort, tempDir } from "./helpers.js";

/** The broker .ci/run starts (or the machine runs). */
export const SHARED_NATS = process.env.TALLY_TEST_NATS ?? "nats://127.0.0.1:4222";
const NATS_SERVER = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].find((f) =>
  fs.existsSync(f),
);

/** A stream, subject prefix and durable name of a test's own, so that test files on the shared broker never meet. */
export function jetStreamNames(label: string): { args: string[]; stream: string; prefix: string; durable: string } {
  const tag = randomUUID().replaceAll("-", "").slice(0, 12);
  const stream = `T_${label}_${tag}`;
  const prefix = `tally-test.${label}.${tag}`;
  return { args: ["--stream", stream, "--subject-prefix", prefix], stream, prefix, durable: `d_${tag}` };
}

/** nats-server -js on a free port with a storage directory that outlives a stop, so that a restart keeps the stream. */
export class OwnNatsServer {
  private child: ChildProcess | null = null;
  readonly dir = tempDir("nats");

  private constructor(readonly port: number) {}

  static async create(): Promise<OwnNatsServer> {
    if (!NATS_SERVER) throw new Error("nats-server is not installed (Debian package nats-server; .ci/run installs it)");
    return new OwnNatsServer(await freePort());
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(NATS_SERVER as string, ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.dir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    let err = "";
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const deadline = Date.now() + 20_000;
    while (!(await answers(this.port))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited: ${err}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the broker (SIGTERM, as an operator's restart) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    this.child = null;
  }

  async remove(): Promise<void> {
    this.child?.kill("SIGKILL");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** NDJSON of `count` requests.get events of value 1 for one account, ids from `first`, on the servers given in turn. */
export function counterEvents(
  count: number,
  options: { first?: number; account: string; servers: readonly string[]; tag: string },
): string {
  let out = "";
  for (let i = 0; i < count; i++) {
    const n = (options.first ?? 0) + i;
    const server = options.servers[n % options.servers.length] as string;
    out += `${JSON.stringify({ id: `${options.tag}-${n}`, server, time: "2026-11-23T12:00:00Z", account: options.account, metric: "requests.get", value: 1 })}\n`;
  }
  return out;
}

export function writeFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/** Polls until the check returns a value that passes, or fails with the last value after the timeout. */
export async function eventually<T>(
  read: () => Promise<T>,
  passes: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await read();
      if (passes(last)) return last;
    } catch {}
    if (Date.now() > deadline) throw new Error(`still not there after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Deletes the test's streams from a broker (a stream that is not there is no error). */
export async function deleteStreams(url: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const nc = await connect({ servers: url });
  try {
    const jsm = await nc.jetstreamManager();
    for (const name of names) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}
