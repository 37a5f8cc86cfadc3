// Where a meter's batches go: a Tally over HTTP (POST /v1/events with a token), or a store opened in this process.
// Either way through the one ingest path; a batch is done once the receiver has committed it.

import fs from "node:fs";
import { AppError } from "../domain/errors.js";
import { type IngestResult, ingestEvents } from "../ingest/ingest-events.js";
import { parseEventBody } from "../ingest/parse-body.js";
import type { EventLog } from "../store/port.js";

export interface EventSink {
  /** Names the receiver, without secrets, for the log. */
  describe(): string;
  /** Stores a batch of NDJSON events; resolves once committed, rejects when it must be sent again later. */
  send(body: Uint8Array): Promise<IngestResult>;
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
  };
}

export function storeSink(events: EventLog, description: string): EventSink {
  return {
    describe: () => description,
    send: (body) => ingestEvents(events, parseEventBody(body, "application/x-ndjson")),
  };
}
