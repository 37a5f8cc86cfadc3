// End-to-end helpers: run the built `tally` binary as a child process on a free port, talk to it over HTTP,
// and stop it gently (SIGTERM) or not at all (SIGKILL).

import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { NODE_ENV, NODE_FLAGS } from "../../src/cli/node-flags.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = path.join(ROOT, "dist/src/cli/main.js");

/** Long enough for a loaded CI machine; no test passes or fails on how fast it is. */
const START_TIMEOUT_MS = 30_000;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON. */
  readonly body: unknown;
}

export interface IngestAnswer {
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: { index: number; id?: string; reason: string }[];
  readonly rejected_omitted?: number;
}

export interface ErrorAnswer {
  readonly error: { code: string; message: string };
}

const running = new Set<ChildProcess>();

/** This process's environment without any TALLY_* setting (a developer's TALLY_STORE must not leak in), plus extras. */
export function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("TALLY_")) env[k] = v;
  return { ...env, ...NODE_ENV, ...extra };
}

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tally-e2e-${label}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The stores every store-independent end-to-end test runs on; PostgreSQL must be up: its tests fail, never skip. */
export const STORES = ["sqlite", "postgres"] as const;
export type StoreKind = (typeof STORES)[number];

export const POSTGRES_URL = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestStore {
  /** The `--store` flag for `tally serve` and the other commands; none for SQLite, whose file is in the data directory. */
  readonly args: readonly string[];
  /** The URL `--store` names, for opening the same store from the test; undefined for SQLite. */
  readonly url: string | undefined;
  /** Drops the PostgreSQL schema; a SQLite store goes with its data directory. */
  drop(): Promise<void>;
}

/**
 * A fresh, empty store. On PostgreSQL a schema of its own, named to `tally` by the connection's search_path in the URL
 * (the binary takes only a URL), so that test files running at once never share tables.
 */
export async function freshStore(kind: StoreKind): Promise<TestStore> {
  if (kind === "sqlite") return { args: [], url: undefined, drop: async () => {} };
  const schema = `tally_e2e_${randomUUID().replaceAll("-", "")}`;
  await withPostgres((client) => client.query(`CREATE SCHEMA ${schema}`));
  const options = encodeURIComponent(`-c search_path=${schema}`);
  const url = `${POSTGRES_URL}${POSTGRES_URL.includes("?") ? "&" : "?"}options=${options}`;
  return {
    args: ["--store", url],
    url,
    drop: () => withPostgres((client) => client.query(`DROP SCHEMA ${schema} CASCADE`)),
  };
}

async function withPostgres(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** Collects a child's output and lets a test wait for a log line. */
class Output {
  text = "";
  private waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  private partial = "";

  push(chunk: Buffer): void {
    const s = chunk.toString("utf8");
    this.text += s;
    this.partial += s;
    let nl = this.partial.indexOf("\n");
    while (nl !== -1) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(line)) return true;
        w.resolve(line);
        return false;
      });
      nl = this.partial.indexOf("\n");
    }
  }

  /** Resolves with the first line, already written or still to come, that passes the test. */
  waitFor(test: (line: string) => boolean): Promise<string> {
    const seen = this.text.split("\n").find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
}

/** The `msg` of a JSON log line, or "" when the line is not one. */
export function logMessage(line: string): string {
  try {
    const parsed = JSON.parse(line) as { msg?: unknown };
    return typeof parsed.msg === "string" ? parsed.msg : "";
  } catch {
    return "";
  }
}

export class TallyServer {
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly out: Output,
    private readonly err: Output,
    exited: Promise<Exit>,
    readonly url: string,
    readonly dataDir: string,
    /** The admin token the first start wrote to DATA/admin-token. */
    readonly token: string,
  ) {
    this.exited = exited;
  }

  /** Starts `tally serve --listen 127.0.0.1:0 --data DIR` and resolves once it logs the address it listens on. */
  static async start(options: {
    dataDir: string;
    env?: Readonly<Record<string, string>>;
    args?: readonly string[];
  }): Promise<TallyServer> {
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, CLI, "serve", "--listen", "127.0.0.1:0", "--data", options.dataDir, ...(options.args ?? [])],
      { env: childEnv(options.env), stdio: ["ignore", "pipe", "pipe"] },
    );
    running.add(child);
    const out = new Output();
    const err = new Output();
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    const exited = new Promise<Exit>((resolve) => {
      child.once("exit", (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const listening = await Promise.race([
      out.waitFor((line) => logMessage(line).startsWith("tally listening on ")),
      exited.then((e) => {
        throw new Error(`tally serve exited (${e.code ?? e.signal}) before listening:\n${out.text}${err.text}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`tally serve did not log where it listens within ${START_TIMEOUT_MS} ms:\n${out.text}`));
        }, START_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    const url = /^tally listening on (http:\/\/\S+)/.exec(logMessage(listening))?.[1];
    if (!url || url.endsWith(":0")) throw new Error(`no usable address in the log line: ${listening}`);
    const token = fs.readFileSync(path.join(options.dataDir, "admin-token"), "utf8").trim();
    return new TallyServer(child, out, err, exited, url, options.dataDir, token);
  }

  /**
   * Starts `tally serve` with its standard output on a descriptor of the caller's (/dev/full, a pipe nobody reads).
   * The log cannot be read for the address, so it listens on a port picked here and is ready once /healthz answers.
   */
  static async startWithStdout(
    stdout: number,
    options: { dataDir: string; env?: Readonly<Record<string, string>> },
  ): Promise<TallyServer> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, CLI, "serve", "--listen", `127.0.0.1:${port}`, "--data", options.dataDir],
      { env: childEnv(options.env), stdio: ["ignore", stdout, "pipe"] },
    );
    running.add(child);
    const out = new Output();
    const err = new Output();
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    let done: Exit | undefined;
    const exited = new Promise<Exit>((resolve) => {
      child.once("exit", (code, signal) => {
        running.delete(child);
        done = { code, signal };
        resolve(done);
      });
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (done) throw new Error(`tally serve exited (${done.code ?? done.signal}) before answering:\n${err.text}`);
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`tally serve did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${err.text}`);
      }
      const answered = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (res) => res.status === 200,
        () => false,
      );
      if (answered) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const token = fs.readFileSync(path.join(options.dataDir, "admin-token"), "utf8").trim();
    return new TallyServer(child, out, err, exited, url, options.dataDir, token);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Everything the process wrote to standard output (its JSON log) and standard error so far. */
  get output(): string {
    return this.out.text + this.err.text;
  }

  /** Waits for a log line whose message starts with the text. */
  waitForLog(message: string): Promise<string> {
    return this.out.waitFor((line) => logMessage(line).startsWith(message));
  }

  /** SIGTERM: the server finishes the requests in flight, closes its store and exits. */
  async stop(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }

  /** SIGKILL: no chance to finish anything. */
  async kill(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    return this.exited;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  headers(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  async get(pathname: string): Promise<Answer> {
    return answer(await fetch(this.url + pathname, { headers: this.headers() }));
  }

  /** POSTs a body to /v1/events with the admin token. A Uint8Array body with no content type sends none. */
  async post(body: string | Uint8Array, contentType?: string): Promise<Answer> {
    const headers = this.headers(contentType === undefined ? {} : { "content-type": contentType });
    return answer(await fetch(`${this.url}/v1/events`, { method: "POST", headers, body }));
  }

  /** POSTs NDJSON and expects a 200 with the ingest answer. */
  async postNdjson(events: readonly object[] | string): Promise<IngestAnswer> {
    const body = typeof events === "string" ? events : ndjson(events);
    const a = await this.post(body, "application/x-ndjson");
    if (a.status !== 200) throw new Error(`POST /v1/events answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body as IngestAnswer;
  }

  /**
   * POSTs a body in chunks on a connection of its own, with a Content-Length or (chunked: true) without one, so that
   * the server only learns the size as it reads. Use it for bodies the server refuses before reading them all (413):
   * the server closes such a connection soon after answering, and fetch's pool would reuse it for the next request.
   * Pass an agent to keep the connection open after the answer (it is then the caller's to destroy).
   */
  postRaw(
    chunks: readonly Uint8Array[],
    contentType: string,
    options: { chunked?: boolean; agent?: http.Agent } = {},
  ): Promise<{ status: number; body: unknown }> {
    const agent = options.agent ?? new http.Agent({ keepAlive: true, maxSockets: 1 });
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const headers = this.headers({
      "content-type": contentType,
      ...(options.chunked ? {} : { "content-length": String(length) }),
    });
    return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      let answered = false;
      const req = http.request(`${this.url}/v1/events`, { method: "POST", headers, agent }, (res) => {
        answered = true;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: parseMaybeJson(text) }));
        res.on("error", reject);
      });
      // Writing on after the server has answered and stopped reading may fail: the answer is what counts.
      req.on("error", (error) => {
        if (!answered) reject(error);
      });
      // The same for the socket, which may outlive the request in the agent and fail once the server closes it.
      req.on("socket", (socket) => socket.on("error", () => {}));
      const write = (i: number): void => {
        if (answered || i === chunks.length) {
          req.end();
          return;
        }
        if (req.write(chunks[i] as Uint8Array)) write(i + 1);
        else req.once("drain", () => write(i + 1));
      };
      write(0);
    }).finally(() => {
      if (!options.agent) agent.destroy();
    });
  }
}

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, headers: res.headers, body: parseMaybeJson(await res.text()) };
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A TCP port nothing listens on just now (another process may take it before the caller does; unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** SIGKILLs every server a test left running (an assertion failed before it stopped one). */
export function killAll(): void {
  for (const child of running) child.kill("SIGKILL");
}

export interface CliResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tally ARGS…` to the end, with optional standard input. */
export function runTally(
  args: readonly string[],
  options: { input?: string | Uint8Array; env?: Readonly<Record<string, string>>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, ...args], {
      env: childEnv(options.env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    running.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
    // The child may exit without reading its input (a bad flag): that is not this helper's error.
    child.stdin.on("error", () => {});
    child.stdin.end(options.input ?? "");
  });
}

export function ndjson(events: readonly object[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join("");
}

let sequence = 0;

/** A valid plain event with a fresh id; overrides replace fields (undefined deletes one). */
export function goodEvent(overrides: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  sequence++;
  const event: Record<string, unknown> = {
    id: `e2e-${sequence}-${randomUUID()}`,
    server: "srv-e2e",
    time: "2026-11-23T12:00:00Z",
    account: "AUTH_e2e",
    metric: "requests.get",
    value: 1,
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete event[k];
    else event[k] = v;
  }
  return event;
}

/** Deterministic pseudo-random numbers (mulberry32), so that generated input is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random bytes. */
export function garbage(size: number, seed: number): Uint8Array {
  const random = prng(seed);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 4) {
    const word = Math.floor(random() * 4294967296);
    for (let j = 0; j < 4 && i + j < size; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return bytes;
}
