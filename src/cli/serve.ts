// tally serve: run the HTTP API until SIGINT or SIGTERM, then finish the requests in flight and stop.

import fs from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import { JetStreamConsumer } from "../broker/jetstream-consumer.js";
import { type ConfigFlags, loadConfig } from "../config/config.js";
import { assertNotDemoDir, prepareDemoDir } from "../demo/demo-data.js";
import { type RunningDemo, startDemo } from "../demo/simulator.js";
import { AppError } from "../domain/errors.js";
import { stdoutDestination } from "../log/fd-destination.js";
import { createLogger } from "../log/logger.js";
import { readableDestination } from "../log/readable-lines.js";
import { startServer } from "../main.js";
import { type ConsumeFlags, consumerSettings } from "./consume-flags.js";
import { removeServerNote, writeServerNote } from "./server-note.js";

export interface ServeFlags extends ConfigFlags, ConsumeFlags {
  /** Simulated servers and accounts, in a data directory of their own. */
  readonly demo?: boolean;
  readonly staleAfter?: string;
}

/**
 * How far V8 lets a heap grow past what it held after a collection, in percent, for both threads of the server: on
 * a machine with much memory V8 allows up to four times, and the main thread's heap swung by 50 MiB; the memory
 * budget (--memory) counts on a half. Flags are the process's, so this is set here, for the server only.
 */
const HEAP_GROWING_PERCENT = 50;

export async function serveCommand(flags: ServeFlags): Promise<number> {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  const staleAfterSeconds = flags.staleAfter ?? flags.staleAfterSeconds;
  let demoDir: { dir: string; fresh: boolean } | null = null;
  let config: ReturnType<typeof loadConfig>;
  if (flags.demo) {
    // Never TALLY_DATA or TALLY_STORE: those name real data.
    if (flags.store)
      throw new AppError("VALIDATION", "--demo keeps its data in a SQLite directory of its own; drop --store");
    demoDir = prepareDemoDir(flags.data);
    // A demo server falls silent at start; a short interval shows it turn stale within a minute.
    config = loadConfig(
      { ...flags, staleAfterSeconds, data: demoDir.dir, store: `sqlite:${path.join(demoDir.dir, "tally.sqlite")}` },
      process.env,
      { staleAfterSeconds: 60 },
    );
  } else {
    config = loadConfig({ ...flags, staleAfterSeconds });
    if (!config.store?.startsWith("postgres")) assertNotDemoDir(config.data);
  }
  const brokers = consumerSettings(flags);
  const consumers: JetStreamConsumer[] = [];
  // A log that cannot be written (a full disk, a reader that stopped) costs lines, counted in /healthz, not service.
  const log = stdoutDestination();
  // JSON lines for machines; readable lines when a person watches a terminal.
  const logger = createLogger(config.logLevel, process.stdout.isTTY ? readableDestination(log) : log);
  // The other commands find the server by this note and go through it; a note left by a killed server names a dead pid.
  const note = (url: string) => {
    try {
      writeServerNote(config, url);
    } catch (error) {
      logger.warn({ err: error }, "cannot note the server's address in the data directory; commands will need --url");
    }
  };
  // A signal that comes while the server starts is kept and acted on once it is up, rather than killing it
  // half-started. The listeners stay from here on: one removed and added again can lose a signal in between.
  let early: string | null = null;
  let onSignal = (signal: string) => {
    early = signal;
  };
  process.once("SIGINT", (signal) => onSignal(signal));
  process.once("SIGTERM", (signal) => onSignal(signal));
  const server = await startServer(config, logger, {
    demo: demoDir !== null,
    log,
    problems: () => consumers.flatMap((c) => (c.problem === null ? [] : [c.problem])),
    onListening: note,
  });
  for (const settings of brokers) {
    const consumer = new JetStreamConsumer(settings, {
      events: server.backend.events,
      logger,
      observer: server.metrics,
      gauges: (pending) => server.metrics.consumer(settings.stream, settings.durable, pending),
    });
    consumers.push(consumer);
    consumer.start();
  }
  let demo: RunningDemo | null = null;
  if (demoDir) {
    logger.info({ data: demoDir.dir }, `demo mode: simulated data in ${demoDir.dir}; open ${server.url}/usage`);
    demo = startDemo(server.backend, logger);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, `stopping on ${signal}`);
      removeServerNote(config);
      // A connection whose request body was left unread (a 413) holds close() open without keeping the event loop
      // alive, so Node would exit with code 13 before the store is closed. Hold the loop until close() settles.
      const hold = setInterval(() => {}, 60_000);
      // Consumers first: the batch being stored is committed and acknowledged before the store closes.
      Promise.all([demo?.stop(), ...consumers.map((c) => c.stop())])
        .then(() => server.close())
        .then(resolve, (error) => {
          logger.error({ err: error }, "error while stopping");
          resolve();
        })
        .finally(() => clearInterval(hold));
    };
    onSignal = stop;
    if (early !== null) stop(early);
  });
  if (demoDir?.fresh) fs.rmSync(demoDir.dir, { recursive: true, force: true });
  logger.info("stopped");
  return 0;
}
