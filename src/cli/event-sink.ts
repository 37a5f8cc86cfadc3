// Where a meter command's events go: the store of the data directory (or --store), through the ingest use case, or
// a running Tally over HTTP (--url, with the admin token or --token-file) through POST /v1/events.

import type { Backend } from "../backend/backend.js";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { AppError } from "../domain/errors.js";
import { LIMITS, type RawEvent } from "../domain/event.js";
import { type IngestResult, ingestEvents } from "../ingest/ingest-events.js";
import type { SendEvents, SendResult } from "../meters/send-events.js";
import { type RemoteFlags, remote } from "./remote.js";

export interface EventSink {
  readonly send: SendEvents;
  close(): Promise<void>;
}

/** Events per request or transaction: under the server's batch limit, and a body well under its size limit. */
const BATCH = 20_000;

export async function openEventSink(flags: RemoteFlags): Promise<EventSink> {
  if (flags.url) {
    return {
      send: (events) =>
        inBatches(events, (batch) => remote<IngestResult>(flags, "POST", "/v1/events", batch.map(withoutBigints))),
      close: async () => {},
    };
  }
  const backend: Backend = await openBackend(loadConfig(flags)).catch((error: unknown) => {
    if (error instanceof AppError && error.code === "UNAVAILABLE" && /in use/.test(error.message)) {
      throw new AppError("UNAVAILABLE", `${error.message}; while it runs, pass --url to go through it`);
    }
    throw error;
  });
  return {
    send: (events) =>
      inBatches(events, (batch) =>
        ingestEvents(
          backend.events,
          batch.map((raw) => ({ raw })),
        ),
      ),
    close: () => backend.close(),
  };
}

async function inBatches(events: RawEvent[], send: (batch: RawEvent[]) => Promise<IngestResult>): Promise<SendResult> {
  let accepted = 0;
  let duplicates = 0;
  const rejected: string[] = [];
  for (let i = 0; i < events.length; i += Math.min(BATCH, LIMITS.batchEvents)) {
    const result = await send(events.slice(i, i + BATCH));
    accepted += result.accepted;
    duplicates += result.duplicates;
    for (const r of result.rejected) rejected.push(`event ${r.id ?? `#${i + r.index}`}: ${r.reason}`);
    for (let n = 0; n < (result.rejected_omitted ?? 0); n++) rejected.push("(reason not listed)");
  }
  return { accepted, duplicates, rejected };
}

/** JSON cannot carry a bigint: values beyond 2^53 travel as decimal strings, as the API takes them. */
function withoutBigints(event: RawEvent): RawEvent {
  return typeof event.value === "bigint" ? { ...event, value: event.value.toString() } : event;
}
