// Vitest global setup: the end-to-end tests run the built binary, so build dist/ first when it is missing or older
// than the sources. `npm test` builds before vitest runs, so there this finds dist/ fresh and does nothing.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BUILT = path.join(ROOT, "dist/src/cli/main.js");

export default function setup(): void {
  const built = mtime(BUILT);
  const sources = newestSource([path.join(ROOT, "src"), path.join(ROOT, "bench")]);
  const configs = Math.max(mtime(path.join(ROOT, "tsconfig.json")), mtime(path.join(ROOT, "tsconfig.build.json")));
  if (built >= Math.max(sources, configs)) return;
  const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8" });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
  // Exit status 2: type errors, but the JavaScript was written. Others may be mid-edit elsewhere in the tree, so
  // say so and go on; `npm run check` is where type errors fail the build.
  if (result.status === 2 && mtime(BUILT) > built) {
    process.stderr.write(
      `global setup: tsc reported type errors; testing the JavaScript it emitted anyway\n${output}\n`,
    );
    return;
  }
  if (result.status !== 0) throw new Error(`building dist/ for the end-to-end tests failed:\n${output}`);
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The latest modification time of a TypeScript source (tests excluded: they are not built) under the folders. */
function newestSource(dirs: string[]): number {
  let newest = 0;
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.endsWith(".test.ts")) continue;
      newest = Math.max(newest, mtime(path.join(entry.parentPath, entry.name)));
    }
  }
  return newest;
}
