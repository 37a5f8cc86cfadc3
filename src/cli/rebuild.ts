// tally rebuild: throw the rollups away and derive them again from the events.

import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { AppError } from "../domain/errors.js";
import { startProgress } from "./progress.js";
import { findRunningServer } from "./server-note.js";

export async function rebuildCommand(flags: { data?: string; store?: string }): Promise<number> {
  const config = loadConfig(flags);
  // A rebuild replaces every rollup under the server's feet, and has no HTTP route: say which server to stop.
  const running = findRunningServer(config);
  if (running !== null) {
    throw new AppError(
      "UNAVAILABLE",
      `tally serve (pid ${running.pid}, ${running.url}) holds this store; stop it, then run tally rebuild`,
    );
  }
  const backend = await openBackend(config);
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
