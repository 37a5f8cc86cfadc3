// Prometheus metrics for one Tally process, on a registry of its own (prom-client): ingest counts and latencies by
// source, HTTP requests by route and status, the JetStream consumer's state, and Node's process metrics.

import client from "prom-client";
import type { SubscriptionRecord, SubscriptionState } from "../feeds/feed-store.js";
import type { IngestObservation, IngestObserver, IngestSource } from "../ingest/ingest-observer.js";
import type { DerivationLag } from "../store/port.js";

/** Latency buckets in seconds, from a small batch on SQLite to a slow PostgreSQL commit of a large one. */
const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const SOURCES: readonly IngestSource[] = ["http", "jetstream", "subscription", "import", "cli"];
const OUTCOMES = ["accepted", "duplicate", "rejected"] as const;
const SUBSCRIPTION_STATES: readonly SubscriptionState[] = ["new", "catching-up", "live", "failing"];

/** Something measured outside this module and read at scrape time (a consumer's pending count). */
export type GaugeReader = () => number | undefined | Promise<number | undefined>;

export class Metrics implements IngestObserver {
  readonly registry = new client.Registry();
  private readonly events: client.Counter<"source" | "outcome">;
  private readonly ingestSeconds: client.Histogram<"source">;
  private readonly storeSeconds: client.Histogram<"source">;
  private readonly httpRequests: client.Counter<"method" | "route" | "status">;
  private readonly httpSeconds: client.Histogram<"method" | "route">;
  private readonly consumerUp: client.Gauge<"stream" | "consumer">;
  private readonly consumerRedeliveries: client.Counter<"stream" | "consumer">;
  private readonly consumerPending = new Map<string, GaugeReader>();
  private derivationLag: (() => Promise<DerivationLag>) | null = null;
  private subscriptionList: (() => Promise<readonly SubscriptionRecord[]>) | null = null;

  constructor(options: { readonly processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) {
      client.collectDefaultMetrics({ register: this.registry });
      // Gauges named like counters, which promtool refuses; each is the sum of its by-type twin without the suffix.
      for (const name of [
        "nodejs_active_handles_total",
        "nodejs_active_requests_total",
        "nodejs_active_resources_total",
      ])
        this.registry.removeSingleMetric(name);
    }
    this.events = new client.Counter({
      name: "tally_events_total",
      help: "Events through the ingest path, by source and outcome (accepted, duplicate, rejected).",
      labelNames: ["source", "outcome"],
      registers,
    });
    // Every source and outcome from zero, so that a rate over a series that has not moved yet is 0, not absent.
    for (const source of SOURCES) for (const outcome of OUTCOMES) this.events.inc({ source, outcome }, 0);
    this.ingestSeconds = new client.Histogram({
      name: "tally_ingest_duration_seconds",
      help: "Time to ingest one batch (validation, store commit, answer), by source.",
      labelNames: ["source"],
      buckets: SECONDS,
      registers,
    });
    this.storeSeconds = new client.Histogram({
      name: "tally_store_insert_duration_seconds",
      help: "Time the store takes to commit one batch of events, by source.",
      labelNames: ["source"],
      buckets: SECONDS,
      registers,
    });
    this.httpRequests = new client.Counter({
      name: "tally_http_requests_total",
      help: "HTTP requests answered, by method, route (as registered, or unmatched) and status.",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.httpSeconds = new client.Histogram({
      name: "tally_http_request_duration_seconds",
      help: "Time to answer an HTTP request, by method and route.",
      labelNames: ["method", "route"],
      buckets: SECONDS,
      registers,
    });
    this.consumerUp = new client.Gauge({
      name: "tally_jetstream_consumer_up",
      help: "1 while the JetStream consumer is connected and pulling, 0 while it retries.",
      labelNames: ["stream", "consumer"],
      registers,
    });
    this.consumerRedeliveries = new client.Counter({
      name: "tally_jetstream_redelivered_total",
      help: "JetStream messages delivered more than once (after a consumer stopped before acknowledging them).",
      labelNames: ["stream", "consumer"],
      registers,
    });
    const pending = this.consumerPending;
    new client.Gauge({
      name: "tally_jetstream_consumer_pending",
      help: "Messages in the stream the durable consumer has not yet been delivered (its lag).",
      labelNames: ["stream", "consumer"],
      registers,
      async collect() {
        this.reset();
        for (const [key, read] of pending) {
          const value = await Promise.resolve()
            .then(read)
            .catch(() => undefined);
          const [stream, consumer] = key.split("\u0000") as [string, string];
          if (value !== undefined) this.set({ stream, consumer }, value);
        }
      },
    });
    // Read at each scrape; with no store to ask (a registry in a test) the gauges stay at 0.
    const lag = (): Promise<DerivationLag | undefined> =>
      this.derivationLag === null ? Promise.resolve(undefined) : this.derivationLag().catch(() => undefined);
    new client.Gauge({
      name: "tally_derivation_lag_events",
      help: "Events committed to the event log and not yet in the rollups and usage table (0 on PostgreSQL).",
      registers,
      async collect() {
        const l = await lag();
        if (l !== undefined) this.set(l.events);
      },
    });
    new client.Gauge({
      name: "tally_derivation_lag_seconds",
      help: "How long the oldest event not yet in the rollups and usage table has waited since it was committed.",
      registers,
      async collect() {
        const l = await lag();
        if (l !== undefined) this.set(l.seconds);
      },
    });
    // Subscriptions as the puller last recorded them (in the store, so every node over it answers alike).
    const subscriptions = async (): Promise<readonly SubscriptionRecord[]> =>
      this.subscriptionList === null ? [] : this.subscriptionList().catch(() => []);
    new client.Gauge({
      name: "tally_subscription_state",
      help: "1 for the state a subscription is in (new, catching-up, live, failing), 0 for the others.",
      labelNames: ["subscription", "state"],
      registers,
      async collect() {
        this.reset();
        for (const s of await subscriptions())
          for (const state of SUBSCRIPTION_STATES)
            this.set({ subscription: s.name, state }, s.health.state === state ? 1 : 0);
      },
    });
    new client.Gauge({
      name: "tally_subscription_lag_events",
      help: "Events the upstream feed had beyond this node's cursor at the last read (an upper bound).",
      labelNames: ["subscription"],
      registers,
      async collect() {
        this.reset();
        for (const s of await subscriptions())
          if (s.health.lagEvents !== null) this.set({ subscription: s.name }, s.health.lagEvents);
      },
    });
    new client.Gauge({
      name: "tally_subscription_lag_seconds",
      help: "0 while a subscription is live; otherwise the time since it last had everything its feed had (or since it was added).",
      labelNames: ["subscription"],
      registers,
      async collect() {
        this.reset();
        const now = Date.now();
        for (const s of await subscriptions()) this.set({ subscription: s.name }, subscriptionLagSeconds(s, now));
      },
    });
    new client.Gauge({
      name: "tally_subscription_last_success_timestamp_seconds",
      help: "When a page of the subscription's feed was last read and stored, in Unix seconds.",
      labelNames: ["subscription"],
      registers,
      async collect() {
        this.reset();
        for (const s of await subscriptions())
          if (s.health.lastSuccess !== null) this.set({ subscription: s.name }, s.health.lastSuccess / 1000);
      },
    });
  }

  /** How to read the subscriptions and their health when scraped. */
  subscriptions(read: () => Promise<readonly SubscriptionRecord[]>): void {
    this.subscriptionList = shared(read);
  }

  /** How to read the store's derivation lag when scraped. */
  derivation(read: () => Promise<DerivationLag>): void {
    this.derivationLag = read;
  }

  ingested(o: IngestObservation): void {
    this.events.inc({ source: o.source, outcome: "accepted" }, o.accepted);
    this.events.inc({ source: o.source, outcome: "duplicate" }, o.duplicates);
    this.events.inc({ source: o.source, outcome: "rejected" }, o.rejected);
    this.ingestSeconds.observe({ source: o.source }, o.seconds);
    this.storeSeconds.observe({ source: o.source }, o.storeSeconds);
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpSeconds.observe({ method, route }, seconds);
  }

  /** A JetStream consumer's state, and how to read its lag when scraped. */
  consumer(
    stream: string,
    consumer: string,
    pending: GaugeReader,
  ): { up(on: boolean): void; redelivered(n: number): void } {
    this.consumerPending.set(`${stream}\u0000${consumer}`, pending);
    this.consumerUp.set({ stream, consumer }, 0);
    return {
      up: (on) => this.consumerUp.set({ stream, consumer }, on ? 1 : 0),
      redelivered: (n) => this.consumerRedeliveries.inc({ stream, consumer }, n),
    };
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** How far a subscription is behind its feed in time: none while live, else since it last caught up. */
export function subscriptionLagSeconds(s: SubscriptionRecord, now: number): number {
  if (s.health.state === "live") return 0;
  return Math.max(0, now - (s.health.caughtUpAt ?? s.createdAt)) / 1000;
}

/** One call of `read` answers every caller that asks while it runs: the gauges of one scrape share a reading. */
function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => {
    running ??= read().finally(() => {
      running = null;
    });
    return running;
  };
}
