// tally rebuild: throw the rollups away and derive them again from the events.

import { loadConfig } from "../config/config.js";
import { openStore } from "../store/open-store.js";

export async function rebuildCommand(flags: { data?: string; store?: string }): Promise<number> {
  const store = await openStore(loadConfig(flags));
  try {
    const started = performance.now();
    const { events, rollups } = await store.rebuildRollups();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(`rebuilt ${rollups} hourly rollups from ${events} events in ${seconds} s\n`);
    return 0;
  } finally {
    await store.close();
  }
}
