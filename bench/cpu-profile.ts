// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_CPU_PROF=DIR npm run bench:ingest): the
// functions with the most self time, the most inclusive time, and self time per source file.
//
//   node dist/bench/cpu-profile.js FILE.cpuprofile [TOP]

import fs from "node:fs";
import path from "node:path";
import { table } from "./harness.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  hitCount?: number;
  /** Samples per source line (1-based) of this function; native calls count on the line that made them. */
  positionTicks?: { line: number; ticks: number }[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const cwd = process.cwd();

function where(node: ProfileNode): string {
  const { url, lineNumber } = node.callFrame;
  if (!url) return "";
  const file = url.startsWith("file://") ? path.relative(cwd, new URL(url).pathname) : url;
  return `${file}:${lineNumber + 1}`;
}

function label(node: ProfileNode): string {
  const name = node.callFrame.functionName || "(anonymous)";
  const at = where(node);
  return at ? `${name}  ${at}` : name;
}

function fileOf(node: ProfileNode): string {
  const { url } = node.callFrame;
  if (!url) return node.callFrame.functionName; // (garbage collector), (program), (idle) …
  const file = url.startsWith("file://") ? path.relative(cwd, new URL(url).pathname) : url;
  return file.replace(/^node_modules\/([^/]+)\/.*$/, "node_modules/$1");
}

function main(): void {
  const file = process.argv[2];
  const top = Number(process.argv[3] ?? 25);
  if (!file) throw new Error("usage: node dist/bench/cpu-profile.js FILE.cpuprofile [TOP]");
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<number, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    if (byId.get(id)?.callFrame.functionName === "(idle)") idle += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  });

  const selfByLabel = new Map<string, number>();
  const inclusiveByLabel = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  for (const [id, dt] of self) {
    const node = byId.get(id) as ProfileNode;
    selfByLabel.set(label(node), (selfByLabel.get(label(node)) ?? 0) + dt);
    selfByFile.set(fileOf(node), (selfByFile.get(fileOf(node)) ?? 0) + dt);
    // Each function on the stack once, however often it recurses. Bounded by the depth of the tree.
    const seen = new Set<string>();
    for (let at: number | undefined = id, depth = 0; at !== undefined && depth < 10_000; depth++) {
      const n = byId.get(at) as ProfileNode;
      const l = label(n);
      if (!seen.has(l)) {
        seen.add(l);
        inclusiveByLabel.set(l, (inclusiveByLabel.get(l) ?? 0) + dt);
      }
      at = parent.get(at);
    }
  }

  // Lines: where inside a function the samples fell. A call into native code (a better-sqlite3 statement, say)
  // is not a JavaScript frame, so its time shows on the line that made the call.
  const msPerTick = total / Math.max(1, profile.samples.length);
  const byLine = new Map<string, number>();
  for (const n of profile.nodes) {
    if (!n.callFrame.url.startsWith("file://")) continue;
    for (const { line, ticks } of n.positionTicks ?? []) {
      const key = `${n.callFrame.url}#${line}#${n.callFrame.functionName || "(anonymous)"}`;
      byLine.set(key, (byLine.get(key) ?? 0) + ticks * msPerTick);
    }
  }
  const sources = new Map<string, string[]>();
  const sourceLine = (url: string, line: number) => {
    if (!sources.has(url)) {
      try {
        sources.set(url, fs.readFileSync(new URL(url), "utf8").split("\n"));
      } catch {
        sources.set(url, []);
      }
    }
    const text = (sources.get(url)?.[line - 1] ?? "").trim();
    return text.length > 90 ? `${text.slice(0, 87)}...` : text;
  };

  const busy = total - idle;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
  const ms = (us: number) => `${Math.round(us / 1000).toLocaleString("en-US")} ms`;
  const rank = (m: Map<string, number>, skip: (l: string) => boolean = () => false) =>
    [...m]
      .filter(([l]) => !skip(l) && !l.startsWith("(idle)"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([l, us]) => [l, ms(us), pct(us)]);

  const out = [
    `${file}: ${ms(total)} sampled, ${ms(busy)} busy (not idle); percentages are of busy time`,
    "",
    table(["self time, by function", "ms", "%"], rank(selfByLabel)),
    "",
    table(
      ["inclusive time, by function", "ms", "%"],
      rank(inclusiveByLabel, (l) => l.startsWith("(root)") || l.startsWith("(program)")),
    ),
    "",
    table(["self time, by file or package", "ms", "%"], rank(selfByFile)),
    "",
    table(
      ["self time, by source line (native calls count on their calling line)", "ms", "%"],
      [...byLine]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([key, us]) => {
          const [url, line, fn] = key.split("#") as [string, string, string];
          const file = path.relative(cwd, new URL(url).pathname);
          return [`${file}:${line} ${fn}: ${sourceLine(url, Number(line))}`, ms(us), pct(us)];
        }),
    ),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}

main();
