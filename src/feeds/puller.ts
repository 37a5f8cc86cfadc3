// The puller: one loop per subscription that reads its feed page by page (long-polling when caught up) and stores
// each page through the one ingest path, with the feed cursor committed in the same transaction. A failing
// upstream is retried with backoff and recorded in the subscription's health; nothing here stops the node.

import { setTimeout as delay } from "node:timers/promises";
import { AppError, messageOf } from "../domain/errors.js";
import type { RawEvent } from "../domain/event.js";
import { ingestEvents } from "../ingest/ingest-events.js";
import type { IngestObserver } from "../ingest/ingest-observer.js";
import type { BatchItem } from "../ingest/parse-body.js";
import type { Logger } from "../log/logger.js";
import type { EventLog } from "../store/port.js";
import { hideCapability } from "./capability.js";
import type { FeedStore, SubscriptionHealth, SubscriptionRecord } from "./feed-store.js";

/** Waits `ms`, or less when the signal aborts first. */
const sleep = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

export interface PullerOptions {
  /** Events asked for per page. */
  readonly pageEvents?: number;
  /** How long the upstream may hold a request open when there is nothing new, in seconds. */
  readonly waitSeconds?: number;
  /** How often the subscription list is read again, for subscriptions added or removed elsewhere. */
  readonly rescanMs?: number;
  /** First and longest pause after a failure; each failure in a row doubles it. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** A page larger than this is refused: the upstream was asked for far fewer events. */
const MAX_PAGE_BYTES = 64 * 1024 * 1024;

interface FeedAnswer {
  events: unknown[];
  next: string | null;
  more: boolean;
  remaining: number;
}

export class Puller {
  private readonly loops = new Map<string, AbortController>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly options: Required<PullerOptions>;

  constructor(
    private readonly deps: {
      readonly feeds: FeedStore;
      readonly events: EventLog;
      readonly logger: Logger;
      /** Counts what each page brought, as for every other source. */
      readonly observer?: IngestObserver;
    },
    options: PullerOptions = {},
  ) {
    this.options = {
      pageEvents: options.pageEvents ?? 5000,
      waitSeconds: options.waitSeconds ?? 30,
      rescanMs: options.rescanMs ?? 2000,
      minBackoffMs: options.minBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 60_000,
    };
  }

  start(): void {
    void this.rescan();
  }

  /** Reads the subscription list now: starts loops for new subscriptions and stops those of removed ones. */
  async rescan(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.rescanTimer);
    try {
      const subscriptions = await this.deps.feeds.listSubscriptions();
      const ids = new Set(subscriptions.map((s) => s.id));
      for (const [id, controller] of this.loops) {
        if (!ids.has(id)) {
          controller.abort();
          this.loops.delete(id);
        }
      }
      for (const s of subscriptions) if (!this.loops.has(s.id) && !this.stopped) this.startLoop(s);
    } catch (error) {
      this.deps.logger.warn({ err: messageOf(error) }, "cannot read the subscriptions; trying again");
    }
    if (!this.stopped) this.rescanTimer = setTimeout(() => void this.rescan(), this.options.rescanMs).unref();
  }

  /** Stops every loop and waits for pages in flight to be stored or dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.rescanTimer);
    for (const controller of this.loops.values()) controller.abort();
    this.loops.clear();
    await Promise.allSettled([...this.running]);
  }

  private startLoop(s: SubscriptionRecord): void {
    const controller = new AbortController();
    this.loops.set(s.id, controller);
    const loop = this.pull(s, controller.signal).catch((error: unknown) => {
      this.deps.logger.error({ subscription: s.name, err: messageOf(error) }, "subscription loop ended unexpectedly");
    });
    this.running.add(loop);
    void loop.finally(() => {
      this.running.delete(loop);
      // A loop that ended on its own (not removed, not stopping) is started again at the next rescan.
      if (this.loops.get(s.id) === controller) this.loops.delete(s.id);
    });
  }

  private async pull(s: SubscriptionRecord, signal: AbortSignal): Promise<void> {
    const { logger, events, observer } = this.deps;
    const { pageEvents, waitSeconds, minBackoffMs, maxBackoffMs } = this.options;
    let health: SubscriptionHealth = s.health;
    let backoff = minBackoffMs;
    let cursor: string | null = null;
    let cursorRead = false;
    let standingBy = false;
    const where = hideCapability(s.url);
    // While a page is stored, the next one is already asked for: the upstream's reading overlaps this node's writing.
    let ahead: { after: string | null; page: Promise<FeedAnswer> } | null = null;
    while (!signal.aborted) {
      try {
        if (!cursorRead) {
          cursor = await events.sourcePosition(s.id);
          cursorRead = true;
        }
        const page: FeedAnswer = await (ahead && ahead.after === cursor
          ? ahead.page
          : this.fetchPage(s.url, cursor, pageEvents, waitSeconds, signal));
        ahead = null;
        if (signal.aborted) return;
        if (page.more && page.next !== cursor) {
          const next = this.fetchPage(s.url, page.next, pageEvents, waitSeconds, signal);
          next.catch(() => undefined); // an error is met when the page is awaited, or never if it is dropped
          ahead = { after: page.next, page: next };
        }
        const moved = page.next !== cursor;
        let rejected = 0;
        if (page.events.length > 0 || moved) {
          const items: BatchItem[] = page.events.map((raw) =>
            typeof raw === "object" && raw !== null && !Array.isArray(raw)
              ? { raw: raw as RawEvent }
              : { error: "a feed event must be a JSON object" },
          );
          const position = page.next === null ? undefined : { name: s.id, position: page.next, after: cursor };
          const result = await ingestEvents(events, items, undefined, { source: "subscription", observer, position });
          rejected = result.rejected.length + (result.rejected_omitted ?? 0);
          if (rejected > 0) {
            logger.warn(
              { subscription: s.name, rejected, first: result.rejected[0]?.reason },
              `subscription ${s.name}: ${rejected} events of a page were refused and skipped`,
            );
          }
          cursor = page.next;
        }
        const now = Date.now();
        const next: SubscriptionHealth = {
          state: page.more ? "catching-up" : "live",
          lastError: null,
          lastSuccess: now,
          lagEvents: page.remaining,
          caughtUpAt: page.more ? health.caughtUpAt : now,
        };
        standingBy = false;
        if (health.state === "failing")
          logger.info({ subscription: s.name, url: where }, `subscription ${s.name} recovered`);
        await this.record(s, next, health);
        health = next;
        backoff = minBackoffMs;
      } catch (error) {
        ahead = null;
        if (signal.aborted) return;
        // The store may have failed mid-batch, or another node moved the cursor: read the committed one again.
        cursorRead = false;
        if (error instanceof AppError && error.code === "CONFLICT") {
          // Another node on the same store stored this page first: it pulls; this one stands by and checks again.
          if (!standingBy)
            logger.info({ subscription: s.name }, `subscription ${s.name}: another node pulls it; standing by`);
          standingBy = true;
          await sleep(maxBackoffMs, signal);
          continue;
        }
        const message = messageOf(error);
        const next: SubscriptionHealth = { ...health, state: "failing", lastError: message };
        if (health.lastError !== message) {
          logger.warn({ subscription: s.name, url: where, err: message }, `subscription ${s.name} failing: ${message}`);
        }
        await this.record(s, next, health).catch(() => undefined);
        health = next;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  /** Records health when it changed in a way a reader sees: state, error, or at most once a second otherwise. */
  private async record(s: SubscriptionRecord, next: SubscriptionHealth, previous: SubscriptionHealth): Promise<void> {
    const same =
      next.state === previous.state &&
      next.lastError === previous.lastError &&
      (next.lastSuccess ?? 0) - (previous.lastSuccess ?? 0) < 1000;
    if (!same) await this.deps.feeds.recordHealth(s.id, next);
  }

  private async fetchPage(
    base: string,
    cursor: string | null,
    limit: number,
    waitSeconds: number,
    stop: AbortSignal,
  ): Promise<FeedAnswer> {
    const url = new URL(base);
    if (cursor !== null) url.searchParams.set("after", cursor);
    url.searchParams.set("limit", String(limit));
    url.searchParams.set("wait", `${waitSeconds}s`);
    const signal = AbortSignal.any([stop, AbortSignal.timeout((waitSeconds + 30) * 1000)]);
    let response: Response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, signal });
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      throw new Error(`cannot reach ${url.host}: ${messageOf(cause ?? error)}`);
    }
    const text = await response.text();
    if (text.length > MAX_PAGE_BYTES) throw new Error(`the feed answered more than ${MAX_PAGE_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`the feed answered HTTP ${response.status} that is not JSON`);
    }
    if (!response.ok) {
      const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
      throw new Error(`the feed answered HTTP ${response.status}${typeof message === "string" ? `: ${message}` : ""}`);
    }
    const b = body as Partial<FeedAnswer> | null;
    if (
      !b ||
      !Array.isArray(b.events) ||
      !(b.next === null || typeof b.next === "string") ||
      typeof b.more !== "boolean" ||
      typeof b.remaining !== "number"
    ) {
      throw new Error("the feed answered a page without events, next, more and remaining");
    }
    return b as FeedAnswer;
  }
}
