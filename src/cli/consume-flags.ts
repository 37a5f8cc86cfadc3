// The JetStream options shared by `tally serve --consume` and `tally ingest --to`: stream, subject prefix, durable
// consumer and batch size, checked once.

import type { Command } from "commander";
import type { ConsumerSettings } from "../broker/jetstream-consumer.js";
import {
  brokerServers,
  checkStreamSettings,
  DEFAULT_STREAM,
  DEFAULT_SUBJECT_PREFIX,
  type StreamSettings,
} from "../broker/stream.js";
import { loadBrokerConfig } from "../config/config.js";
import { AppError } from "../domain/errors.js";

export interface StreamFlags {
  stream?: string;
  subjectPrefix?: string;
}

export interface ConsumeFlags extends StreamFlags {
  consume?: string[];
  durable?: string;
  batch?: string;
}

export const DEFAULT_DURABLE = "tally";
const DEFAULT_BATCH = 5_000;
const DURABLE = /^[A-Za-z0-9_-]{1,64}$/;

export function streamOptions(cmd: Command): Command {
  return cmd
    .option("--stream <name>", `JetStream stream (TALLY_STREAM, default ${DEFAULT_STREAM}); created when missing`)
    .option(
      "--subject-prefix <prefix>",
      `subjects are PREFIX.<server> (TALLY_SUBJECT_PREFIX, default ${DEFAULT_SUBJECT_PREFIX})`,
    );
}

/** The stream and subject prefix: flags, else TALLY_STREAM and TALLY_SUBJECT_PREFIX, else the defaults. */
export function streamSettings(flags: StreamFlags, env: NodeJS.ProcessEnv = process.env): StreamSettings {
  const c = loadBrokerConfig(flags, env);
  return checkStreamSettings({
    stream: c.stream ?? DEFAULT_STREAM,
    subjectPrefix: c.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX,
  });
}

/**
 * One consumer per broker (--consume, repeated, or TALLY_CONSUME), all with the same stream, durable name and batch
 * size. A consumer flag without a broker is a mistake; the same variables without one are not (a shell that sets
 * TALLY_STREAM for its publishers may start a node that does not consume).
 */
export function consumerSettings(flags: ConsumeFlags, env: NodeJS.ProcessEnv = process.env): ConsumerSettings[] {
  const c = loadBrokerConfig(flags, env);
  if (c.consume.length === 0) {
    for (const flag of ["durable", "batch", "stream", "subjectPrefix"] as const)
      if (flags[flag] !== undefined)
        throw new AppError(
          "VALIDATION",
          `--${flag === "subjectPrefix" ? "subject-prefix" : flag} needs --consume nats://HOST:PORT (or TALLY_CONSUME)`,
        );
    return [];
  }
  const durable = c.durable ?? DEFAULT_DURABLE;
  if (!DURABLE.test(durable))
    throw new AppError(
      "VALIDATION",
      `--durable "${durable}" (or TALLY_DURABLE) must be 1 to 64 letters, digits, _ or -`,
    );
  const batch = Number(c.batch ?? DEFAULT_BATCH);
  if (!/^\d+$/.test(c.batch ?? "1") || !Number.isInteger(batch) || batch < 1 || batch > 10_000)
    throw new AppError("VALIDATION", `--batch "${c.batch}" (or TALLY_BATCH) must be a whole number from 1 to 10000`);
  const stream = streamSettings(flags, env);
  // Checked before the server starts, so that a bad URL stops nothing half started.
  for (const url of c.consume) brokerServers(url);
  return c.consume.map((url) => ({ ...stream, url, durable, batch }));
}
