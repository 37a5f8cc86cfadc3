// tally rebuild: throw the rollups away and derive them again from the events.

import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { startProgress } from "./progress.js";

export async function rebuildCommand(flags: { data?: string; store?: string }): Promise<number> {
  const backend = await openBackend(loadConfig(flags));
  try {
    const started = performance.now();
    // The store reports no progress within a rebuild, so the terminal shows that it runs and for how long.
    const progress = startProgress({ label: "rebuilding rollups" });
    const { events, rollups } = await backend.maintenance.rebuildRollups().finally(() => progress.stop());
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(`rebuilt ${rollups} hourly rollups from ${events} events in ${seconds} s\n`);
    return 0;
  } finally {
    await backend.close();
  }
}
