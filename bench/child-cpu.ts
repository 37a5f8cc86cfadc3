// Runs a command to its end and measures it: wall time, and the CPU time it used (user + system, from GNU time). On a
// shared machine the CPU time says what the work costs; the wall time says how long it took there and then.

import { spawnSync } from "node:child_process";
import { NODE_ENV } from "../src/cli/node-flags.js";

export interface Timed {
  readonly stdout: string;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
}

export function timedRun(command: string, args: readonly string[]): Timed {
  const started = performance.now();
  const r = spawnSync("/usr/bin/time", ["-f", "cpu %U %S", command, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...NODE_ENV },
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`${command} ${args.join(" ")} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return { stdout: r.stdout, wallSeconds, cpuSeconds: Number(m[1]) + Number(m[2]) };
}
