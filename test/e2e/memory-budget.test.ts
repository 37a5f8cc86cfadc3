// tally serve --memory and TALLY_MEMORY_MB reach the SQLite store, which says at start how it shares the budget out;
// a budget it cannot keep stops the start.

import { afterAll, describe, expect, it } from "vitest";
import { killAll, logMessage, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

const dirs: string[] = [];

afterAll(() => {
  killAll();
  for (const dir of dirs) removeDir(dir);
});

/** The store's shares as it logged them at start. */
async function sharesOf(options: { args?: string[]; env?: Record<string, string> }): Promise<Record<string, number>> {
  const dir = tempDir("memory");
  dirs.push(dir);
  const tally = await TallyServer.start({ dataDir: dir, ...options });
  const line = tally.output.split("\n").find((l) => logMessage(l).startsWith("memory budget "));
  // Serving: a stop right after the address is logged may come before the server listens for signals.
  expect((await tally.get("/healthz")).status).toBe(200);
  expect(await tally.stop()).toEqual({ code: 0, signal: null });
  expect(line).toBeDefined();
  return (JSON.parse(line as string) as { memory: Record<string, number> }).memory;
}

describe("tally serve's memory budget", () => {
  it("is 512 MiB by default, TALLY_MEMORY_MB otherwise, and --memory over both", async () => {
    const [byDefault, fromEnv, fromFlag] = await Promise.all([
      sharesOf({}),
      sharesOf({ env: { TALLY_MEMORY_MB: "400" } }),
      sharesOf({ args: ["--memory", "1024"], env: { TALLY_MEMORY_MB: "400" } }),
    ]);
    expect(byDefault.memoryMiB).toBe(512);
    expect(fromEnv.memoryMiB).toBe(400);
    expect(fromFlag.memoryMiB).toBe(1024);
    // Every cache scales with it.
    for (const key of ["logCacheMiB", "deriveCacheMiB", "workerHeapMiB", "seriesCacheSize", "recentKeySlots"]) {
      expect(fromEnv[key], key).toBeLessThan(byDefault[key] as number);
      expect(fromFlag[key], key).toBeGreaterThan(byDefault[key] as number);
    }
  });

  it("refuses a budget too small to keep", async () => {
    const dir = tempDir("memory");
    dirs.push(dir);
    const out = await runTally(["serve", "--listen", "127.0.0.1:0", "--data", dir, "--memory", "64"]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--memory \(or TALLY_MEMORY_MB\) must be at least 320/);
  });
});
