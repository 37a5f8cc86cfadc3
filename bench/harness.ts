// Shared pieces of the benchmarks: starting and stopping `tally serve` as a child process, reading a process's
// memory from /proc, running the client process, and printing aligned tables.

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_ENV, NODE_FLAGS } from "../src/cli/node-flags.js";

/** dist/ — this file runs as dist/bench/harness.js. */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const TALLY_MAIN = path.join(DIST, "src", "cli", "main.js");

export interface RunningTally {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  /** Milliseconds from spawn to the "tally listening on" log line. */
  readonly listeningMs: number;
  readonly spawnedAt: number;
  /** Null while it runs; else how it ended and the last of what it printed. */
  died(): string | null;
  /** SIGTERM, then waits (bounded) for the process to exit; SIGKILL if it does not. Resolves to ms taken. */
  stop(): Promise<number>;
}

export interface StartOptions {
  readonly args: readonly string[];
  readonly nodeArgs?: readonly string[];
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Spawns `tally serve --listen 127.0.0.1:0 …` with the Node flags of the command; resolves once it logs where it
 * listens.
 */
export function startTally(options: StartOptions): Promise<RunningTally> {
  if (!fs.existsSync(TALLY_MAIN)) throw new Error(`${TALLY_MAIN} is missing: run npm run build`);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, ...(options.nodeArgs ?? []), TALLY_MAIN, "serve", "--listen", "127.0.0.1:0", ...options.args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...NODE_ENV, TALLY_LOG_LEVEL: "info", ...options.env },
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stderr?.on("data", keep);
  return new Promise<RunningTally>((resolve, reject) => {
    let pending = "";
    let listening = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tally serve did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    exited.then((code) => {
      if (listening) return;
      clearTimeout(timer);
      reject(new Error(`tally serve exited with ${code} before listening:\n${output.trim()}`));
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      keep(chunk);
      if (listening) return;
      pending += chunk.toString();
      const match = /tally listening on (http:\/\/[^\s"]+)/.exec(pending);
      if (!match) return;
      listening = true;
      clearTimeout(timer);
      const listeningMs = performance.now() - spawnedAt;
      const url = (match[1] as string).replace(/\/$/, "");
      resolve({
        child,
        pid: child.pid as number,
        url,
        listeningMs,
        spawnedAt,
        died: () =>
          child.exitCode === null && child.signalCode === null
            ? null
            : `tally serve ended (${child.exitCode ?? child.signalCode}): ${output.trim().split("\n").slice(-5).join(" | ")}`,
        stop: async () => {
          const t0 = performance.now();
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
          await exited;
          clearTimeout(killer);
          return performance.now() - t0;
        },
      });
    });
  });
}

/** VmHWM (peak RSS) and VmRSS of a live process, in bytes. */
export function memoryOf(pid: number): { peak: number; rss: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    return { peak: kb("VmHWM") * 1024, rss: kb("VmRSS") * 1024 };
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of each thread of a process, by thread id; null once the process is gone. */
export function threadCpuOf(pid: number): Map<number, number> | null {
  try {
    const threads = new Map<number, number>();
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // The name is in parentheses and may hold spaces; utime and stime are the 12th and 13th fields after it.
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]);
      threads.set(Number(tid), ticks / CLOCK_TICKS);
    }
    return threads;
  } catch {
    return null;
  }
}

/** Linux's USER_HZ, which /proc reports CPU times in: 100 on every architecture Node runs on. */
const CLOCK_TICKS = 100;

/** GET path on 127.0.0.1, resolving to the status code (0 when the connection fails). */
export function getStatus(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

/**
 * Runs a node script of dist/bench as a child process with one JSON argument; its stderr lines go to ours (and
 * to onLine), its last stdout line is parsed as the result.
 */
export function runNodeScript<T>(
  script: string,
  job: unknown,
  onLine?: (line: string) => void,
  env: NodeJS.ProcessEnv = {},
): Promise<T> {
  const child = spawn(process.execPath, [path.join(DIST, "bench", script), JSON.stringify(job)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let pending = "";
  /** The first line of the child's own error report (progress lines are indented). */
  let firstError = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    pending += c.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      process.stderr.write(`${line}\n`);
      onLine?.(line);
      if (/^\S/.test(line) && !firstError) firstError = line;
    }
  });
  return new Promise<T>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      if (pending) process.stderr.write(`${pending}\n`);
      const last = stdout.trim().split("\n").at(-1) ?? "";
      if (code !== 0 || !last) {
        reject(new Error(firstError || `${script} exited with ${code}`));
        return;
      }
      resolve(JSON.parse(last) as T);
    });
  });
}

/**
 * A token that may send events: on first start Tally leaves an admin token in DATA/admin-token, and with it the
 * benchmark makes an ingest token, as a deployment would. Null when this build has no tokens (no such file).
 */
export async function ingestToken(url: string, dataDir: string): Promise<string | null> {
  const file = path.join(dataDir, "admin-token");
  if (!fs.existsSync(file)) return null;
  const admin = fs.readFileSync(file, "utf8").trim();
  const body = JSON.stringify({ role: "ingest", note: "bench:ingest" });
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      `${url}/v1/tokens`,
      {
        method: "POST",
        agent: false,
        timeout: 30_000,
        headers: {
          "x-auth-token": admin,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("POST /v1/tokens did not answer within 30 s")));
    req.on("error", reject);
    req.end(body);
  });
  if (answer.status !== 200 && answer.status !== 201) {
    throw new Error(`POST /v1/tokens answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
  const secret = (JSON.parse(answer.text) as { secret?: unknown }).secret;
  if (typeof secret !== "string") throw new Error("POST /v1/tokens answered without a secret");
  return secret;
}

/** CPU this process has spent, in all its threads, µs. */
export function cpuMicros(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

export function progress(message: string): void {
  process.stderr.write(`- ${message}\n`);
}

/** A table with a header row, columns aligned: text left, the rest right. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} CPUs (${cpus[0]?.model.trim() ?? "?"}), ${mib(os.totalmem())} RAM, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return total;
}

/** The value after `--NAME` on the command line, or `fallback` when it is not given. */
export function flag(name: string, fallback: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : (args[i + 1] ?? fallback);
}
