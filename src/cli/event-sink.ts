// Where a meter command's events go, one choice for every meter: NATS JetStream (--to nats://…), a Tally over HTTP
// (--to or --url http://…, with --token-file or the admin token), the `tally serve` that holds the data directory
// (found by its note, looked up again for each batch), or the store itself.

import path from "node:path";
import type { Command } from "commander";
import { ADMIN_TOKEN_FILE } from "../auth/first-admin-token.js";
import { EventPublisher } from "../broker/publish-events.js";
import { brokerLabel } from "../broker/stream.js";
import { loadConfig } from "../config/config.js";
import { validation } from "../domain/errors.js";
import type { Logger } from "../log/logger.js";
import { brokerSink, type EventSink, httpSink, storeSink } from "../meters/event-sink.js";
import { type StreamFlags, streamOptions, streamSettings } from "./consume-flags.js";
import { openStoreHere, type RemoteFlags, remoteOptions } from "./remote.js";
import { findRunningServer } from "./server-note.js";

export interface SinkFlags extends RemoteFlags, StreamFlags {
  /** nats://HOST:PORT for JetStream, or http(s)://HOST:PORT for a Tally. */
  to?: string;
}

export async function openEventSink(flags: SinkFlags, logger?: Logger): Promise<EventSink> {
  const config = loadConfig(flags);
  const tokenFile = flags.tokenFile ?? path.join(config.data, ADMIN_TOKEN_FILE);
  if (flags.to !== undefined && flags.url !== undefined) throw validation("give one of --to and --url");
  const named = flags.to ?? flags.url;
  if (named !== undefined) {
    let protocol: string;
    try {
      protocol = new URL(named.split(",")[0] as string).protocol;
    } catch {
      throw validation(`"${named}" is not a URL: give http://HOST:PORT for a Tally or nats://HOST:PORT for JetStream`);
    }
    if (protocol === "nats:" || protocol === "tls:") {
      const settings = streamSettings(flags);
      const publisher = await EventPublisher.open(named, settings);
      return brokerSink(publisher, `stream ${settings.stream} at ${brokerLabel(named)}`);
    }
    if (protocol !== "http:" && protocol !== "https:")
      throw validation(`"${named}" is not http://HOST:PORT (a Tally) or nats://HOST:PORT (JetStream)`);
    return httpSink(() => ({ url: named, tokenFile }));
  }
  if (flags.stream !== undefined || flags.subjectPrefix !== undefined)
    throw validation("--stream and --subject-prefix are for publishing to JetStream, with --to nats://HOST:PORT");
  const running = findRunningServer(config);
  if (running !== null) {
    let last = running.url;
    logger?.info(
      { url: running.url, pid: running.pid },
      `tally serve (pid ${running.pid}) holds the store: events go through it`,
    );
    return httpSink(() => {
      last = findRunningServer(config)?.url ?? last;
      return { url: last, tokenFile };
    });
  }
  const backend = await openStoreHere(flags, logger ? { logger } : {});
  return storeSink(backend.events, backend.description, () => backend.close());
}

/** The options that choose where a meter's events go. */
export function sinkOptions(cmd: Command): Command {
  return streamOptions(remoteOptions(cmd)).option(
    "--to <url>",
    "send the events to this Tally (http://HOST:PORT; --token-file a token that may ingest) or publish them to NATS JetStream (nats://HOST:PORT)",
  );
}
