// tally serve: run the HTTP API until SIGINT or SIGTERM, then finish the requests in flight and stop.

import { loadConfig } from "../config/config.js";
import { createLogger } from "../log/logger.js";
import { startServer } from "../main.js";

export async function serveCommand(flags: { listen?: string; data?: string; store?: string }): Promise<number> {
  const config = loadConfig(flags);
  const logger = createLogger(config.logLevel);
  const server = await startServer(config, logger);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, `stopping on ${signal}`);
      server.close().then(resolve, (error) => {
        logger.error({ err: error }, "error while stopping");
        resolve();
      });
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  logger.info("stopped");
  return 0;
}
