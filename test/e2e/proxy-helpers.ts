// End-to-end helpers for the metering proxy: a small object store to put it in front of, a client that keeps count
// of what it did, and the real `tally meter proxy` as a child process.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { NODE_FLAGS } from "../../src/cli/node-flags.js";
import { CLI, childEnv, type Exit, logMessage } from "./helpers.js";

/**
 * An object store of sorts: GET answers ?size= bytes (chunked with ?chunked=1), HEAD their length, PUT and POST read
 * the body and answer 201 "ok", DELETE 204, anything else 200 "x". It records how many body bytes each request
 * carried, by the X-Test-Id header, and can stall reading (?stall=MS) to test backpressure.
 */
export class Upstream {
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    /** Body bytes received, by X-Test-Id. */
    readonly received: ReadonlyMap<string, number>,
  ) {}

  static async start(): Promise<Upstream> {
    const received = new Map<string, number>();
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://upstream");
      const id = req.headers["x-test-id"];
      let n = 0;
      const stall = Number(url.searchParams.get("stall") ?? 0);
      req.on("data", (c: Buffer) => {
        n += c.length;
        if (typeof id === "string") received.set(id, n);
        if (stall > 0 && n === c.length) {
          req.pause();
          setTimeout(() => req.resume(), stall);
        }
      });
      req.on("end", () => {
        const size = Number(url.searchParams.get("size") ?? 0);
        switch (req.method) {
          case "GET":
            return writeBody(res, size, url.searchParams.get("chunked") === "1");
          case "HEAD":
            res.writeHead(200, { "content-length": size });
            return res.end();
          case "PUT":
          case "POST":
            res.writeHead(201, { "content-length": 2 });
            return res.end("ok");
          case "DELETE":
            res.writeHead(204);
            return res.end();
          default:
            res.writeHead(200, { "content-length": 1 });
            return res.end("x");
        }
      });
      req.on("error", () => {});
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new Upstream(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

function writeBody(res: http.ServerResponse, size: number, chunked: boolean): void {
  res.writeHead(200, chunked ? {} : { "content-length": size });
  let left = size;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once("drain", more);
        return;
      }
    }
    res.end();
  };
  more();
  res.on("error", () => {});
}

export interface Done {
  readonly status: number;
  /** Request body bytes written. */
  readonly sent: number;
  /** Response body bytes read. */
  readonly received: number;
}

/**
 * One request through `base`: a body of `body` bytes (chunked when asked, in 64 KiB pieces), the answer read to its end.
 * `abortAfter` destroys the request once that many body bytes are written (an upload) or read (a download).
 */
export function request(
  base: string,
  agent: http.Agent,
  method: string,
  path: string,
  options: { body?: number; chunked?: boolean; headers?: Record<string, string>; abortAfter?: number } = {},
): Promise<Done> {
  return new Promise((resolve, reject) => {
    const body = options.body ?? 0;
    const headers: Record<string, string> = { ...options.headers };
    if (body > 0 && !options.chunked) headers["content-length"] = String(body);
    if (body > 0 && options.chunked) headers["transfer-encoding"] = "chunked";
    let sent = 0;
    let received = 0;
    const req = http.request(`${base}${path}`, { method, headers, agent }, (res) => {
      res.on("data", (c: Buffer) => {
        received += c.length;
        if (options.abortAfter !== undefined && method === "GET" && received >= options.abortAfter) {
          req.destroy();
          resolve({ status: -1, sent, received });
        }
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, sent, received }));
      res.on("error", reject);
    });
    req.on("error", (error) => {
      if (options.abortAfter !== undefined) resolve({ status: -1, sent, received });
      else reject(error);
    });
    const write = () => {
      while (sent < body) {
        if (options.abortAfter !== undefined && method !== "GET" && sent >= options.abortAfter) {
          // Give the proxy a moment to read what was written, then go away half way.
          setTimeout(() => {
            req.destroy();
            resolve({ status: -1, sent, received });
          }, 200);
          return;
        }
        const n = Math.min(body - sent, CHUNK.length);
        sent += n;
        if (!req.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          req.once("drain", write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

export class MeterProxy {
  readonly exited: Promise<Exit>;

  private constructor(
    private readonly child: ChildProcess,
    exited: Promise<Exit>,
    readonly url: string,
    private readonly lines: string[],
    private readonly stderr: { text: string },
  ) {
    this.exited = exited;
  }

  /** Starts `tally meter proxy ARGS…` and resolves once it logs where it listens. */
  static async start(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<MeterProxy> {
    const child = spawn(process.execPath, [...NODE_FLAGS, CLI, "meter", "proxy", ...args], {
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines: string[] = [];
    const stderr = { text: "" };
    let partial = "";
    let onLine: ((line: string) => void) | undefined;
    child.stdout?.on("data", (c: Buffer) => {
      partial += c.toString("utf8");
      let nl = partial.indexOf("\n");
      while (nl !== -1) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        lines.push(line);
        onLine?.(line);
        nl = partial.indexOf("\n");
      }
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr.text += c.toString("utf8");
    });
    const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the proxy did not start:\n${lines.join("\n")}${stderr.text}`)),
        30_000,
      );
      onLine = (line) => {
        const found = /^metering proxy listening on (\S+) /.exec(logMessage(line))?.[1];
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`the proxy exited (${e.code ?? e.signal}):\n${lines.join("\n")}\n${stderr.text}`));
      });
    });
    return new MeterProxy(child, exited, url, lines, stderr);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** The JSON log lines so far, parsed. */
  log(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  get output(): string {
    return `${this.lines.join("\n")}\n${this.stderr.text}`;
  }

  stop(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }

  kill(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    return this.exited;
  }

  /** Peak resident memory of the process so far, in bytes (Linux). */
  peakRss(): number {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, "utf8");
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  }
}
