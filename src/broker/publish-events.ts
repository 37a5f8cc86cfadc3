// Publishing events to JetStream, one message per event on PREFIX.<server> with (server, id) as its message id:
// what `tally ingest --to nats://…` and a meter do. The consumer validates them through the one ingest path; here
// only what the subject and the id need is checked.

import { connect, headers, type JetStreamClient, type NatsConnection, type PubAck } from "nats";
import { AppError } from "../domain/errors.js";
import { LIMITS } from "../domain/event.js";
import { brokerLabel, brokerServers, ensureStream, messageId, type StreamSettings, subjectFor } from "./stream.js";

export interface PublishOutcome {
  /** Stored by the broker. */
  readonly published: number;
  /** Dropped by the broker: it had a message with the same (server, id) within its duplicate window. */
  readonly duplicates: number;
}

/** Publishes at most this many messages before waiting for the broker's acknowledgements. */
const IN_FLIGHT = 2_000;
/** How long one publish waits for the broker's acknowledgement, and how often it is tried. */
const ACK_TIMEOUT_MS = 20_000;
const ATTEMPTS = 4;

export class EventPublisher {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly settings: StreamSettings,
    private readonly label: string,
  ) {}

  static async open(url: string, settings: StreamSettings): Promise<EventPublisher> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: brokerServers(url), name: "tally-publisher" });
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new AppError("UNAVAILABLE", `cannot reach the broker at ${brokerLabel(url)}: ${(error as Error).message}`);
    }
    try {
      await ensureStream(await nc.jetstreamManager(), settings);
    } catch (error) {
      await nc.close();
      if (error instanceof AppError) throw error;
      throw new AppError("UNAVAILABLE", `JetStream at ${brokerLabel(url)}: ${(error as Error).message}`);
    }
    return new EventPublisher(nc, nc.jetstream(), settings, brokerLabel(url));
  }

  /**
   * Publishes each line (one JSON event) and resolves once the broker has stored every one. A line whose server or
   * id cannot be read is refused here, with its reason, and nothing of it is published.
   */
  async publish(
    lines: readonly Uint8Array[],
  ): Promise<PublishOutcome & { rejected: { index: number; reason: string }[] }> {
    const rejected: { index: number; reason: string }[] = [];
    let published = 0;
    let duplicates = 0;
    let pending: Promise<PubAck>[] = [];
    const settle = async () => {
      for (const ack of await Promise.all(pending)) {
        if (ack.duplicate) duplicates++;
        else published++;
      }
      pending = [];
    };
    for (const [index, line] of lines.entries()) {
      const key = eventKey(line);
      if (typeof key === "string") {
        rejected.push({ index, reason: key });
        continue;
      }
      pending.push(
        this.publishOne(subjectFor(this.settings.subjectPrefix, key.server), line, messageId(key.server, key.id)),
      );
      if (pending.length >= IN_FLIGHT) await settle();
    }
    await settle();
    return { published, duplicates, rejected };
  }

  /**
   * One message, tried again when the broker does not acknowledge it in time: with the same message id, a message
   * stored the first time is dropped as a duplicate, never stored twice.
   */
  private async publishOne(subject: string, data: Uint8Array, msgID: string): Promise<PubAck> {
    for (let attempt = 1; ; attempt++) {
      const h = headers();
      h.set("Nats-Msg-Id", msgID);
      try {
        return await this.js.publish(subject, data, { headers: h, timeout: ACK_TIMEOUT_MS });
      } catch (error) {
        if (attempt >= ATTEMPTS)
          throw new AppError(
            "UNAVAILABLE",
            `the broker at ${this.label} did not acknowledge a message after ${ATTEMPTS} tries ` +
              `(${(error as Error).message}); publishing the same events again is safe`,
          );
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}

/** The event's (server, id), or why a line has none. */
function eventKey(line: Uint8Array): { server: string; id: string } | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString("utf8"));
  } catch {
    return "is not JSON";
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return "is not a JSON object";
  const { server, id } = parsed as { server?: unknown; id?: unknown };
  if (typeof server !== "string" || server === "" || Buffer.byteLength(server) > LIMITS.nameBytes)
    return `has no server (a string of 1 to ${LIMITS.nameBytes} bytes)`;
  if (typeof id !== "string" || id === "" || Buffer.byteLength(id) > LIMITS.idBytes)
    return `has no id (a string of 1 to ${LIMITS.idBytes} bytes)`;
  return { server, id };
}
