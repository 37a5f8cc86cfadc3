// Composition root: configuration → store → app → listening server, and a clean stop.

import type { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { ensureFirstAdminToken } from "./auth/first-admin-token.js";
import { assertLocalReadsAllowed } from "./auth/loopback.js";
import type { Backend } from "./backend/backend.js";
import { openBackend } from "./backend/open-backend.js";
import type { Config } from "./config/config.js";
import { AppError } from "./domain/errors.js";
import { Puller } from "./feeds/puller.js";
import { createApp } from "./http/app.js";
import type { LogStats } from "./log/fd-destination.js";
import type { Logger } from "./log/logger.js";
import { Metrics } from "./metrics/metrics.js";
import { loadStarConfig } from "./records/star-config.js";

export interface RunningServer {
  readonly url: string;
  readonly backend: Backend;
  /** The process's metrics, served at /metrics. */
  readonly metrics: Metrics;
  /** Stops accepting connections, finishes the requests in flight, then closes the backend. */
  close(): Promise<void>;
}

export interface ServerOptions {
  /** The store holds simulated data (tally serve --demo): the usage pages say so. */
  readonly demo?: boolean;
  /** The log's drop count, for /healthz. */
  readonly log?: LogStats;
  /** What keeps the node from doing all its work (a broker it cannot reach), for /healthz; none when empty. */
  readonly problems?: () => readonly string[];
  /** Called with the server's URL once it listens, before it logs so (tally serve notes its address here). */
  readonly onListening?: (url: string) => void;
}

export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  assertLocalReadsAllowed(config);
  // Read before the store opens: a mistake in the file stops the start with its message.
  const starConfig = config.starConfig ? loadStarConfig(config.starConfig) : undefined;
  const backend = await openBackend(config, { logger });
  try {
    const file = await ensureFirstAdminToken(backend.tokens, config.data);
    // The path only: the secret is in the file and nowhere else.
    if (file) logger.info({ file }, `created the first admin token; it is in ${file}, readable only by its owner`);
    if (config.localReads)
      logger.info("reads without a token are allowed on loopback (--no-local-reads turns this off)");
  } catch (error) {
    await backend.close();
    throw error;
  }
  const metrics = new Metrics();
  metrics.derivation(() => backend.maintenance.derivationLag());
  metrics.subscriptions(() => backend.feeds.listSubscriptions());
  // Subscriptions are pulled while the node serves; a failing upstream is retried and never stops it.
  const puller = new Puller({ feeds: backend.feeds, events: backend.events, logger, observer: metrics });
  const stopping = new AbortController();
  const app = createApp({
    stopping: stopping.signal,
    backend,
    metrics,
    publicUrl: config.publicUrl,
    subscriptionsChanged: () => puller.rescan(),
    logger,
    log: options.log,
    maxBodyBytes: config.maxBodyBytes,
    maxBatchEvents: config.maxBatchEvents,
    localReads: config.localReads,
    maxQueryDays: config.maxQueryDays,
    exportThreads: config.exportThreads,
    swiftResellerPrefix: config.swiftResellerPrefix,
    staleAfterMs: config.staleAfterSeconds * 1000,
    demo: options.demo ?? false,
    ...(options.problems ? { problems: options.problems } : {}),
    ...(starConfig ? { starConfig } : {}),
  });
  const server = createAdaptorServer({
    fetch: app.fetch,
    serverOptions: {
      // A usage subset of up to 10,000 accounts goes in the query string: room for it in the request line.
      maxHeaderSize: 512 * 1024,
      // A client that trickles its request would otherwise hold its connection (and body buffer) for minutes.
      requestTimeout: config.requestTimeoutSeconds * 1000,
      headersTimeout: config.headersTimeoutSeconds * 1000,
      keepAliveTimeout: config.keepAliveTimeoutSeconds * 1000,
      // Node looks for requests past those timeouts only this often (every 30 s unless told), so it bounds how late
      // a cut comes.
      connectionsCheckingInterval: 1000,
    },
  });
  server.maxConnections = config.maxConnections;
  logDroppedConnections(server, config.maxConnections, logger);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    await backend.close();
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "EADDRINUSE" ? "the address is in use" : (error as Error).message;
    throw new AppError("UNAVAILABLE", `cannot listen on ${config.listen}: ${reason}`);
  }
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  options.onListening?.(url);
  logger.info({ url, store: backend.description }, `tally listening on ${url} with store ${backend.description}`);
  puller.start();
  let closing: Promise<void> | undefined;
  return {
    url,
    backend,
    metrics,
    close: () => {
      closing ??= (async () => {
        stopping.abort();
        await puller.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Idle keep-alive connections would hold close() open; busy ones finish their request first.
          if ("closeIdleConnections" in server) server.closeIdleConnections();
        });
        await backend.close();
      })();
      return closing;
    },
  };
}

/** Node closes connections above maxConnections as they arrive; say so, at most once a minute, with how many. */
function logDroppedConnections(server: EventEmitter, limit: number, logger: Logger): void {
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  server.on("drop", () => {
    dropped++;
    if (timer !== undefined) return;
    logger.warn({ limit }, `at the connection limit (${limit}, TALLY_MAX_CONNECTIONS): closing new connections`);
    timer = setTimeout(() => {
      timer = undefined;
      if (dropped > 1) logger.warn({ limit, dropped }, `closed ${dropped} connections at the limit of ${limit}`);
      dropped = 0;
    }, 60_000).unref();
  });
}
