// `tally serve --consume nats://…`: pulls events from the stream with a durable consumer, stores each batch through
// the one ingest path, and acknowledges its messages only once the batch is committed. A message that is never
// acknowledged (the process died, the store failed) is delivered again, to this node or another sharing the durable
// consumer, and the store counts it as a duplicate. A broker that cannot be reached is retried with backoff, forever.

import { AckPolicy, type Consumer, connect, DeliverPolicy, type JsMsg, type NatsConnection, nanos } from "nats";
import { messageOf } from "../domain/errors.js";
import { type IngestResult, ingestEvents } from "../ingest/ingest-events.js";
import type { IngestObserver } from "../ingest/ingest-observer.js";
import { parseEventBody } from "../ingest/parse-body.js";
import type { Logger } from "../log/logger.js";
import type { EventLog } from "../store/port.js";
import { brokerLabel, brokerServers, ensureStream, type StreamSettings } from "./stream.js";

export interface ConsumerSettings extends StreamSettings {
  /** nats://host:port, or several separated by commas. */
  readonly url: string;
  /** The durable consumer's name: every node given the same name shares its messages. */
  readonly durable: string;
  /** Messages pulled and committed together. */
  readonly batch: number;
  /** How long the broker waits for an acknowledgement before delivering a message again. */
  readonly ackWaitMs?: number;
  /** The first wait before trying the broker again; it doubles up to maxBackoffMs. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** What the consumer tells the metrics (metrics.ts implements it). */
export interface ConsumerGauges {
  up(on: boolean): void;
  redelivered(n: number): void;
}

export interface ConsumerDeps {
  readonly events: EventLog;
  readonly logger: Logger;
  readonly observer?: IngestObserver;
  /** Registers the consumer with the metrics, which read its lag through `pending` when scraped. */
  readonly gauges?: (pending: () => Promise<number | undefined>) => ConsumerGauges;
}

/** How long one pull waits for messages before it is made again. */
const PULL_EXPIRES_MS = 1_000;

export class JetStreamConsumer {
  private nc: NatsConnection | null = null;
  private consumer: Consumer | null = null;
  private stopping = false;
  /** Between the client's disconnect and reconnect events. */
  private disconnected = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Why the consumer is not pulling, or null while it is. */
  private problemText: string | null = "not connected yet";
  private readonly gauges: ConsumerGauges | undefined;
  private readonly label: string;

  constructor(
    private readonly settings: ConsumerSettings,
    private readonly deps: ConsumerDeps,
  ) {
    brokerServers(settings.url);
    this.label = brokerLabel(settings.url);
    this.gauges = deps.gauges?.(() => this.pending());
  }

  /** Null while pulling; otherwise what is wrong, for /healthz. */
  get problem(): string | null {
    return this.problemText === null
      ? null
      : `JetStream consumer ${this.settings.durable} on ${this.label}: ${this.problemText}`;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops pulling; a batch being stored is committed and acknowledged first. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
    // The last acknowledgements are on their way out: send them before closing.
    await this.nc?.flush().catch(() => {});
    await this.nc?.close().catch(() => {});
  }

  private async run(): Promise<void> {
    let backoff = this.settings.backoffMs ?? 1_000;
    const maxBackoff = this.settings.maxBackoffMs ?? 30_000;
    let logged: string | null = null;
    while (!this.stopping) {
      try {
        await this.connect();
        if (logged !== null || this.problemText !== null)
          this.deps.logger.info(
            { broker: this.label, stream: this.settings.stream, durable: this.settings.durable },
            `consuming JetStream stream ${this.settings.stream} on ${this.label} as ${this.settings.durable}`,
          );
        this.setProblem(null);
        logged = null;
        backoff = this.settings.backoffMs ?? 1_000;
        await this.pullLoop();
      } catch (error) {
        if (this.stopping) break;
        const reason = messageOf(error);
        this.setProblem(reason);
        // One line per change of reason, not one per retry.
        if (reason !== logged) {
          this.deps.logger.warn(
            { broker: this.label, stream: this.settings.stream, durable: this.settings.durable, err: reason },
            `JetStream consumer on ${this.label} is not pulling (${reason}); retrying with backoff up to ${maxBackoff / 1000} s`,
          );
          logged = reason;
        }
        await this.dropConsumer();
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  private setProblem(problem: string | null): void {
    this.problemText = problem;
    this.gauges?.up(problem === null);
  }

  private async connect(): Promise<void> {
    if (this.nc === null || this.nc.isClosed()) {
      // The client reconnects by itself once connected; the first connection is this loop's to retry.
      this.nc = await connect({
        servers: brokerServers(this.settings.url),
        name: `tally-consumer-${this.settings.durable}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
      });
      this.disconnected = false;
      void this.watch(this.nc);
    }
    const jsm = await this.nc.jetstreamManager();
    await ensureStream(jsm, this.settings);
    const config = {
      durable_name: this.settings.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${this.settings.subjectPrefix}.>`,
      ack_wait: nanos(this.settings.ackWaitMs ?? 30_000),
      // Room for every node's batches in flight at once.
      max_ack_pending: Math.max(1_000, this.settings.batch * 16),
    };
    try {
      await jsm.consumers.info(this.settings.stream, this.settings.durable);
    } catch (error) {
      if (!/consumer not found/i.test(messageOf(error))) throw error;
      // Several nodes may create it at once: the same configuration twice is not an error.
      await jsm.consumers.add(this.settings.stream, config);
    }
    this.consumer = await this.nc.jetstream().consumers.get(this.settings.stream, this.settings.durable);
  }

  private async pullLoop(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === null) throw new Error("no consumer");
    // The next batch is pulled while this one is stored: the broker's delivery overlaps the store's commit.
    let next = this.fetch(consumer);
    try {
      while (!this.stopping) {
        const messages = await next;
        next = this.fetch(consumer);
        if (this.nc?.isClosed()) throw new Error("the connection to the broker is closed");
        if (messages.length === 0) {
          // An empty pull while disconnected is the only sign of it: say so instead of pulling in silence.
          if (this.disconnected) throw new Error("the connection to the broker was lost");
          continue;
        }
        await this.commit(messages);
      }
    } finally {
      // Pulled but not stored: handed back at once, for this node's next pull or another node.
      for (const m of await next.catch(() => [])) m.nak();
    }
  }

  private async fetch(consumer: Consumer): Promise<JsMsg[]> {
    const messages: JsMsg[] = [];
    const iterator = await consumer.fetch({ max_messages: this.settings.batch, expires: PULL_EXPIRES_MS });
    for await (const m of iterator) messages.push(m);
    return messages;
  }

  /** Stores the batch, then acknowledges it; a batch the store refuses is left unacknowledged, to come again. */
  private async commit(messages: JsMsg[]): Promise<void> {
    const redelivered = messages.filter((m) => m.redelivered).length;
    if (redelivered > 0) this.gauges?.redelivered(redelivered);
    let result: IngestResult;
    try {
      const body = Buffer.concat(
        messages.flatMap((m, i) => (i === 0 ? [oneLine(m.data)] : [NEWLINE, oneLine(m.data)])),
      );
      const items = parseEventBody(body, "application/x-ndjson", Math.max(messages.length, 1));
      result = await ingestEvents(this.deps.events, items, undefined, {
        source: "jetstream",
        ...(this.deps.observer ? { observer: this.deps.observer } : {}),
      });
    } catch (error) {
      // Not acknowledged: the broker delivers these again after ack_wait; nothing is lost.
      for (const m of messages) m.nak(5_000);
      throw new Error(`storing a batch of ${messages.length} events failed: ${messageOf(error)}`);
    }
    for (const m of messages) m.ack();
    const rejected = result.rejected.length + (result.rejected_omitted ?? 0);
    if (rejected > 0) {
      // Acknowledged all the same: an event the ingest rules refuse would be refused again on every delivery.
      this.deps.logger.warn(
        { stream: this.settings.stream, rejected, first: result.rejected.slice(0, 5) },
        `${rejected} events from JetStream were rejected by the ingest rules`,
      );
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") this.disconnected = true;
      else if (status.type === "reconnect") this.disconnected = false;
    }
  }

  private async pending(): Promise<number | undefined> {
    if (this.consumer === null || this.problemText !== null) return undefined;
    const info = await this.consumer.info();
    return info.num_pending;
  }

  private async dropConsumer(): Promise<void> {
    this.consumer = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

const NEWLINE = Buffer.from("\n");

/** A message holds one JSON event; line breaks in it are JSON white space, read as spaces to keep it one line. */
function oneLine(data: Uint8Array): Buffer {
  const copy = Buffer.from(data);
  for (let i = 0; i < copy.length; i++) if (copy[i] === 0x0a || copy[i] === 0x0d) copy[i] = 0x20;
  return copy;
}
