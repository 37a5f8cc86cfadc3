// How far the derivation worker is behind the event log: events not yet derived, and how long the oldest of them has
// waited, from the times their batches were committed.

import type { DerivationLag } from "../port.js";

export class LagClock {
  /** Spans of the log: the events before `end` that are not derived have waited since `since` (epoch ms) or longer. */
  private spans: { end: number; since: number }[] = [];
  /** The end of the latest span: a commit beyond it starts a new one. */
  private counted = 0;

  /** Events up to `end` (exclusive) are waiting from `at` on; those already counted keep their time. */
  waiting(end: number, at: number): void {
    if (end <= this.counted) return;
    this.spans.push({ end, since: at });
    this.counted = end;
  }

  /** The worker went back to `cursor` (a failure, a rebuild): the events up to `end` wait again, from `at`. */
  back(cursor: number, end: number, at: number): void {
    if (end > cursor) this.spans.push({ end, since: at });
    this.counted = Math.max(this.counted, end);
  }

  /** The worker has derived every event before `cursor`: the spans it covers are done (kept in order of commit). */
  derived(cursor: number): void {
    while (this.spans.length > 0 && (this.spans[0] as { end: number }).end <= cursor) this.spans.shift();
  }

  /** The lag of a worker that has derived every event before `derived`, with the log ending at `end`. */
  lag(derived: number, end: number, now: number): DerivationLag {
    this.spans = this.spans.filter((s) => s.end > derived);
    const events = Math.max(0, end - derived);
    if (events === 0 || this.spans.length === 0) return { events, seconds: 0 };
    const since = this.spans.reduce((oldest, s) => Math.min(oldest, s.since), now);
    return { events, seconds: Math.max(0, now - since) / 1000 };
  }
}
