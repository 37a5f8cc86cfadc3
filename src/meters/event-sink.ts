// Where a meter's batches go: a Tally over HTTP (POST /v1/events with a token), a store opened in this process, or a
// NATS JetStream stream that Tally nodes consume. Either way through the one ingest path; a batch is done once the
// receiver has made it durable: committed by the store, or stored by the broker.

import fs from "node:fs";
import type { EventPublisher } from "../broker/publish-events.js";
import { AppError } from "../domain/errors.js";
import { LIMITS, type RawEvent } from "../domain/event.js";
import { type IngestResult, ingestEvents } from "../ingest/ingest-events.js";
import { parseEventBody } from "../ingest/parse-body.js";
import type { EventLog } from "../store/port.js";
import type { SendEvents } from "./send-events.js";

export interface EventSink {
  /** Names the receiver, without secrets, for the log. */
  describe(): string;
  /** Stores a batch of NDJSON events; resolves once durable, rejects when it must be sent again later. */
  send(body: Uint8Array): Promise<IngestResult>;
  close(): Promise<void>;
}

/** The receiver's address and token, looked up for each batch (a server found by its note may have moved). */
export interface HttpTarget {
  readonly url: string;
  readonly tokenFile: string;
}

/** A batch that takes longer than this is sent again: a duplicate at worst. */
const SEND_TIMEOUT_MS = 30_000;

export function httpSink(target: () => HttpTarget): EventSink {
  return {
    describe: () => target().url,
    send: async (body) => {
      const { url, tokenFile } = target();
      let secret: string;
      try {
        secret = fs.readFileSync(tokenFile, "utf8").trim();
      } catch (error) {
        throw new AppError("UNAUTHORIZED", `cannot read the token from ${tokenFile}: ${(error as Error).message}`);
      }
      const endpoint = new URL("/v1/events", url);
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: "POST",
          headers: { "X-Auth-Token": secret, "Content-Type": "application/x-ndjson" },
          body,
          signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
        });
      } catch (error) {
        const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
        throw new AppError("UNAVAILABLE", `cannot reach ${endpoint.origin}: ${reason}`);
      }
      const text = await response.text().catch(() => "");
      if (!response.ok) {
        let message = `HTTP ${response.status}`;
        try {
          message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
        } catch {}
        const code = response.status === 401 || response.status === 403 ? "UNAUTHORIZED" : "UNAVAILABLE";
        throw new AppError(code, `${endpoint.origin} refused the batch: ${message}`);
      }
      return JSON.parse(text) as IngestResult;
    },
    close: async () => {},
  };
}

export function storeSink(events: EventLog, description: string, close: () => Promise<void>): EventSink {
  return {
    describe: () => description,
    send: (body) => ingestEvents(events, parseEventBody(body, "application/x-ndjson")),
    close,
  };
}

/**
 * Publishes each event as a message of its own; "accepted" are those the broker stored, "duplicates" those it
 * dropped within its duplicate window. The consuming nodes validate and deduplicate them again as they store them.
 */
export function brokerSink(publisher: EventPublisher, description: string): EventSink {
  return {
    describe: () => description,
    send: async (body) => {
      const lines: Uint8Array[] = [];
      let start = 0;
      for (let i = 0; i <= body.length; i++) {
        if (i < body.length && body[i] !== 0x0a) continue;
        if (i > start) lines.push(body.subarray(start, i));
        start = i + 1;
      }
      const outcome = await publisher.publish(lines);
      return { accepted: outcome.published, duplicates: outcome.duplicates, rejected: outcome.rejected };
    },
    close: () => publisher.close(),
  };
}

/** Events per batch: under the server's batch limit, and a body well under its size limit. */
const BATCH = Math.min(20_000, LIMITS.batchEvents);

/** A meter's events through a sink, a batch at a time, with each rejection named by its event. */
export function sendEvents(sink: EventSink): SendEvents {
  return async (events) => {
    let accepted = 0;
    let duplicates = 0;
    const rejected: string[] = [];
    for (let i = 0; i < events.length; i += BATCH) {
      const batch = events.slice(i, i + BATCH);
      const result = await sink.send(Buffer.from(batch.map((e) => `${JSON.stringify(withoutBigints(e))}\n`).join("")));
      accepted += result.accepted;
      duplicates += result.duplicates;
      for (const r of result.rejected) rejected.push(`event ${r.id ?? `#${i + r.index}`}: ${r.reason}`);
      for (let n = 0; n < (result.rejected_omitted ?? 0); n++) rejected.push("(reason not listed)");
    }
    return { accepted, duplicates, rejected };
  };
}

/** JSON cannot carry a bigint: values beyond 2^53 travel as decimal strings, as the API takes them. */
function withoutBigints(event: RawEvent): RawEvent {
  return typeof event.value === "bigint" ? { ...event, value: event.value.toString() } : event;
}
