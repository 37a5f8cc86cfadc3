// tally meter proxy: the metering proxy in front of an object store, sending its counts to a Tally (the running
// server found by its note, one named with --to/--url) or straight into the data directory's store.

import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { validation } from "../domain/errors.js";
import { LIMITS } from "../domain/event.js";
import { nameTextProblem } from "../domain/text.js";
import { stdoutDestination } from "../log/fd-destination.js";
import { createLogger } from "../log/logger.js";
import { attributor, isAccountName, parseS3KeyFile } from "../meters/attribution.js";
import { checkUpstream, startMeteringProxy } from "../meters/metering-proxy.js";
import { Shipper } from "../meters/shipper.js";
import { Spool } from "../meters/spool.js";
import { TrafficTally } from "../meters/traffic-tally.js";
import { openEventSink, type SinkFlags, sinkOptions } from "./event-sink.js";
import type { Run } from "./petname.js";

export interface MeterProxyFlags extends SinkFlags {
  upstream: string;
  listen: string;
  server: string;
  resellerPrefix?: string;
  s3Keys?: string;
  unattributed: string;
  flushEvery: string;
  idleTimeout: string;
  grace: string;
  spool?: string;
}

export async function meterProxyCommand(flags: MeterProxyFlags): Promise<number> {
  const config = loadConfig({ data: flags.data, store: flags.store, listen: flags.listen });
  const flushMs = seconds(flags.flushEvery, "--flush-every", 3600) * 1000;
  const idleTimeoutMs = seconds(flags.idleTimeout, "--idle-timeout", 86_400) * 1000;
  const graceMs = seconds(flags.grace, "--grace", 86_400, 0) * 1000;
  const serverProblem = nameProblem(flags.server);
  if (serverProblem) throw validation(`--server ${serverProblem}`);
  if (!isAccountName(flags.unattributed)) {
    throw validation("--unattributed must name an account: not empty, at most 256 bytes, no control characters");
  }
  let upstream: URL;
  try {
    upstream = new URL(flags.upstream);
  } catch {
    throw validation(`--upstream "${flags.upstream}" is not a URL (http://HOST:PORT)`);
  }
  checkUpstream(upstream);
  const s3Keys = flags.s3Keys === undefined ? new Map<string, string>() : readKeyFile(flags.s3Keys);
  const resellerPrefix = flags.resellerPrefix ?? config.swiftResellerPrefix;
  const spool = Spool.open(flags.spool ?? path.join(config.data, "spool", `proxy-${encodeURIComponent(flags.server)}`));

  const logger = createLogger(config.logLevel, stdoutDestination());
  const sink = await openEventSink(flags, logger);
  const tally = new TrafficTally();
  const shipper = new Shipper({ tally, spool, sink, server: flags.server, flushMs, logger });
  let proxy: Awaited<ReturnType<typeof startMeteringProxy>>;
  try {
    proxy = await startMeteringProxy({
      upstream,
      host: config.host,
      port: config.port,
      attribute: attributor({ resellerPrefix, s3Keys, unattributed: flags.unattributed }),
      tally,
      logger,
      idleTimeoutMs,
    });
  } catch (error) {
    await sink.close();
    throw error;
  }
  shipper.start();
  logger.info(
    { url: proxy.url, upstream: upstream.origin, server: flags.server, to: sink.describe(), spool: spool.dir },
    `metering proxy listening on ${proxy.url} for ${upstream.origin}; counts for server ${flags.server} go to ${sink.describe()} every ${flushMs / 1000} s`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, `stopping on ${signal}: finishing the requests in flight, then flushing`);
      const hold = setInterval(() => {}, 60_000);
      proxy
        .close(graceMs)
        .then(() => shipper.stop(10_000))
        .then((left) => {
          if (left > 0)
            logger.warn(
              { spool: spool.dir, batches: left },
              `${left} batches wait in ${spool.dir}; sent at the next start`,
            );
        })
        .catch((error: unknown) => logger.error({ err: error }, "error while stopping"))
        .then(() => sink.close())
        .finally(() => {
          clearInterval(hold);
          resolve();
        });
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  logger.info("stopped");
  return 0;
}

function readKeyFile(file: string): Map<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw validation(`--s3-keys: cannot read ${file}: ${(error as Error).message}`);
  }
  return parseS3KeyFile(text, file);
}

function seconds(text: string, flag: string, max: number, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw validation(`${flag} must be a whole number of seconds from ${min} to ${max}`);
  return n;
}

function nameProblem(name: string): string | null {
  if (name === "") return "must not be empty";
  if (Buffer.byteLength(name) > LIMITS.nameBytes) return `must be at most ${LIMITS.nameBytes} bytes`;
  const problem = nameTextProblem(name);
  return problem === null ? null : problem;
}

export function registerMeterCommands(meter: Command, storeOptions: (cmd: Command) => Command, run: Run): void {
  sinkOptions(
    storeOptions(
      meter
        .command("proxy")
        .description("a reverse proxy in front of an object store that counts requests and bytes per account"),
    ),
  )
    .requiredOption("--upstream <url>", "the object store, http://HOST:PORT")
    .requiredOption("--server <name>", "the server the counts are for (events' server)")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:8090")
    .option(
      "--reseller-prefix <prefix>",
      "Swift reseller prefix of account paths (TALLY_SWIFT_RESELLER_PREFIX, default AUTH_)",
    )
    .option("--s3-keys <file>", "S3 access key → account: KEY ACCOUNT or KEY,ACCOUNT lines, or a JSON object")
    .option("--unattributed <account>", "the account of requests that name none", "unattributed")
    .option("--flush-every <seconds>", "how often counts are flushed as events", "5")
    .option("--idle-timeout <seconds>", "close a connection idle this long", "120")
    .option("--grace <seconds>", "on SIGTERM, how long requests in flight may take to finish", "10")
    .option("--spool <dir>", "where batches wait until sent (default DATA/spool/proxy-SERVER)")
    .action(run(meterProxyCommand));
}
