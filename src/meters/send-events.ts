// How a meter hands its events to the ingest path, wherever that is (the store opened here, or a Tally over HTTP).

import type { RawEvent } from "../domain/event.js";

/** What sending a batch of events answered once they were committed. */
export interface SendResult {
  readonly accepted: number;
  readonly duplicates: number;
  /** Reasons for events the ingest path refused, each naming the event. */
  readonly rejected: readonly string[];
}

/** Sends events through the one ingest path; resolves only once the accepted ones are committed. */
export type SendEvents = (events: RawEvent[]) => Promise<SendResult>;
