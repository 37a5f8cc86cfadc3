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
const DEFAULT_BATCH = 1_000;
const DURABLE = /^[A-Za-z0-9_-]{1,64}$/;

export function streamOptions(cmd: Command): Command {
  return cmd
    .option("--stream <name>", `JetStream stream (default ${DEFAULT_STREAM}); created when missing`)
    .option("--subject-prefix <prefix>", `subjects are PREFIX.<server> (default ${DEFAULT_SUBJECT_PREFIX})`);
}

export function streamSettings(flags: StreamFlags): StreamSettings {
  return checkStreamSettings({
    stream: flags.stream ?? DEFAULT_STREAM,
    subjectPrefix: flags.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX,
  });
}

/** One consumer per --consume URL, all with the same stream, durable name and batch size. */
export function consumerSettings(flags: ConsumeFlags): ConsumerSettings[] {
  const urls = flags.consume ?? [];
  if (urls.length === 0) {
    for (const flag of ["durable", "batch", "stream", "subjectPrefix"] as const)
      if (flags[flag] !== undefined)
        throw new AppError(
          "VALIDATION",
          `--${flag === "subjectPrefix" ? "subject-prefix" : flag} needs --consume nats://HOST:PORT`,
        );
    return [];
  }
  const durable = flags.durable ?? DEFAULT_DURABLE;
  if (!DURABLE.test(durable))
    throw new AppError("VALIDATION", `--durable "${durable}" must be 1 to 64 letters, digits, _ or -`);
  const batch = Number(flags.batch ?? DEFAULT_BATCH);
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000)
    throw new AppError("VALIDATION", `--batch "${flags.batch}" must be a whole number from 1 to 10000`);
  const stream = streamSettings(flags);
  // Checked before the server starts, so that a bad URL stops nothing half started.
  for (const url of urls) brokerServers(url);
  return urls.map((url) => ({ ...stream, url, durable, batch }));
}
