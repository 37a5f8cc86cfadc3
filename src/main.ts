// Composition root: configuration → store → app → listening server, and a clean stop.

import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Config } from "./config/config.js";
import { AppError } from "./domain/errors.js";
import { createApp } from "./http/app.js";
import type { Logger } from "./log/logger.js";
import { openStore } from "./store/open-store.js";
import type { UsageStore } from "./store/port.js";

export interface RunningServer {
  readonly url: string;
  readonly store: UsageStore;
  /** Stops accepting connections, finishes the requests in flight, then closes the store. */
  close(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const store = await openStore(config);
  const app = createApp({ store, logger, maxBodyBytes: config.maxBodyBytes });
  const server = createAdaptorServer({ fetch: app.fetch });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    await store.close();
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "EADDRINUSE" ? "the address is in use" : (error as Error).message;
    throw new AppError("UNAVAILABLE", `cannot listen on ${config.listen}: ${reason}`);
  }
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, store: store.description }, `tally listening on ${url} with store ${store.description}`);
  let closing: Promise<void> | undefined;
  return {
    url,
    store,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive connections would hold close() open; busy ones finish their request first.
          if ("closeIdleConnections" in server) server.closeIdleConnections();
        });
        await store.close();
      })();
      return closing;
    },
  };
}
