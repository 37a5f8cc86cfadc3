// Imports one Swift log as a stream of bytes: splits it into lines, counts each request in the hour and account it
// belongs to, and sends the sums range by range. Ranges end at fixed places (the first line at or after every
// BLOCK_BYTES of the log, and the end of what there is), so that the same log imported twice gives the same ranges
// and so the same event ids, even without the positions file; with it, what was imported is skipped.

import { createHash, type Hash } from "node:crypto";
import type { SendEvents } from "./send-events.js";
import { HourlyTally } from "./swift-log-aggregate.js";
import type { SwiftLogLineParser } from "./swift-log-line.js";
import type { SwiftLogPositions } from "./swift-log-positions.js";

/** Ranges start anew at the first line at or after each multiple of this many bytes. */
export const BLOCK_BYTES = 64 * 1024 * 1024;
/** Bytes read at a time. */
export const READ_CHUNK = 1024 * 1024;
/** A line longer than this is reported and skipped, never held whole. */
const MAX_LINE = 1024 * 1024;

export interface SwiftLogCounts {
  lines: number;
  requests: number;
  subrequests: number;
  /** Lines of other programs and proxy messages that are not access lines, by program. */
  other: Map<string, number>;
  bad: number;
  /** Lines skipped because an earlier import had imported them. */
  alreadyImported: number;
  events: number;
  accepted: number;
  duplicates: number;
  rejected: number;
}

export function emptyCounts(): SwiftLogCounts {
  return {
    lines: 0,
    requests: 0,
    subrequests: 0,
    other: new Map(),
    bad: 0,
    alreadyImported: 0,
    events: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
  };
}

export interface SwiftLogStreamOptions {
  readonly server: string;
  /** The account requests that name none are counted under. */
  readonly unattributed: string;
  readonly positions: SwiftLogPositions;
  readonly send: SendEvents;
  readonly parser: SwiftLogLineParser;
  readonly counts: SwiftLogCounts;
  /** Called for each line that should be an access line and is not, with its number in the log. */
  readonly onBadLine: (line: number, reason: string) => void;
  /** Called for each event the store refused. */
  readonly onRejected: (reason: string) => void;
  readonly blockBytes?: number;
}

interface Preamble {
  counts: SwiftLogCounts;
  bad: [number, string][];
}

/**
 * One log, from its first byte. A log is known by its fingerprint: the hash of its bytes up to the end of its first
 * access line, which carries a transaction id no other log has. Until that line, nothing is counted for good.
 */
export class SwiftLogStream {
  /** Byte offset of the first byte not yet split into lines. */
  private offset = 0;
  private rest = "";
  private overlong = false;
  private lineNo = 0;
  private stream: string | null = null;
  private headEnd: number | null = null;
  private readonly hash: Hash = createHash("sha256");
  /** Counts and bad lines seen before the fingerprint is known: dropped if those lines had been imported already. */
  private preamble: Preamble | null;
  private done = 0;
  private forcedEnd: number | null = null;
  private rangeStart = 0;
  private nextBoundary: number;
  private tally = new HourlyTally();
  private readonly blockBytes: number;

  constructor(private readonly options: SwiftLogStreamOptions) {
    this.blockBytes = options.blockBytes ?? BLOCK_BYTES;
    this.nextBoundary = this.blockBytes;
    this.preamble = { counts: emptyCounts(), bad: [] };
  }

  /** The log's fingerprint, once its first access line has been read. */
  get fingerprint(): string | null {
    return this.stream;
  }

  /** Where the first access line ends (the bytes the fingerprint covers), once it has been read. */
  get headBytes(): number | null {
    return this.headEnd;
  }

  /** Bytes of the log split into lines so far: where a follower would read on from. */
  get position(): number {
    return this.offset;
  }

  /** Splits the bytes into lines and counts them; sends a range whenever one is complete. */
  async feed(chunk: Buffer): Promise<void> {
    let text = chunk.toString("latin1");
    if (this.rest !== "") {
      text = this.rest + text;
      this.rest = "";
    }
    let pos = 0;
    for (;;) {
      const nl = text.indexOf("\n", pos);
      if (nl === -1) break;
      if (this.overlong) {
        this.overlong = false;
        this.offset += nl + 1 - pos;
      } else {
        if (this.cutsBefore(this.offset)) await this.cut(this.offset);
        this.line(text, pos, nl);
      }
      pos = nl + 1;
    }
    if (this.overlong) {
      this.offset += text.length - pos;
    } else if (text.length - pos > MAX_LINE) {
      this.lineNo++;
      this.report(this.lineNo, `is longer than ${MAX_LINE} bytes`);
      this.overlong = true;
      this.offset += text.length - pos;
    } else {
      this.rest = text.slice(pos);
    }
  }

  /** Sends what has been counted so far as a range of its own (a follower's periodic flush). */
  async flush(): Promise<void> {
    await this.cut(this.offset);
  }

  /**
   * The end of the log for now. A last line without its newline is counted only when `closed` (the input has ended
   * for good: standard input, a compressed file, a rotated log); otherwise it may still be being written, and is left.
   * Returns the bytes of such a line left unread.
   */
  async end(closed: boolean): Promise<number> {
    let left = 0;
    if (this.rest !== "") {
      if (closed) {
        const text = this.rest;
        this.rest = "";
        if (this.cutsBefore(this.offset)) await this.cut(this.offset);
        this.line(text, 0, text.length);
        // No newline followed it.
        if (this.headEnd === this.offset) this.headEnd -= 1;
        this.offset -= 1;
      } else {
        left = this.rest.length;
      }
    }
    await this.flush();
    return left;
  }

  /** A range ends before the first line at or after a block boundary, or exactly where a pending range ended. */
  private cutsBefore(start: number): boolean {
    return (
      this.stream !== null &&
      start >= this.done &&
      (start >= this.nextBoundary || (this.forcedEnd !== null && start >= this.forcedEnd))
    );
  }

  private line(text: string, from: number, nl: number): void {
    const start = this.offset;
    this.offset += nl + 1 - from;
    this.lineNo++;
    const counts = this.preamble?.counts ?? this.options.counts;
    if (start < this.done) {
      counts.alreadyImported++;
      return;
    }
    let end = nl;
    while (end > from && (text.charCodeAt(end - 1) === 13 || text.charCodeAt(end - 1) === 0)) end--;
    counts.lines++;
    if (end === from) return;
    if (this.preamble) this.hash.update(text.slice(from, nl + 1), "latin1");
    const parsed = this.options.parser.parse(text, from, end);
    switch (parsed.kind) {
      case "request":
        this.tally.add(
          parsed.hour,
          parsed.account ?? this.options.unattributed,
          parsed.slot,
          parsed.bytesIn,
          parsed.bytesOut,
        );
        counts.requests++;
        if (this.preamble) this.identify();
        return;
      case "subrequest":
        counts.subrequests++;
        if (this.preamble) this.identify();
        return;
      case "other":
        counts.other.set(parsed.program, (counts.other.get(parsed.program) ?? 0) + 1);
        return;
      case "bad":
        counts.bad++;
        this.report(this.lineNo, parsed.reason);
        return;
    }
  }

  /** The first access line has been read: the log is known, and what an earlier import did with it applies. */
  private identify(): void {
    const preamble = this.preamble as Preamble;
    this.preamble = null;
    this.stream = this.hash.digest("hex").slice(0, 24);
    this.headEnd = this.offset;
    const known = this.options.positions.get(this.stream);
    if (known.done > 0) {
      // Everything read so far lies before the recorded position: it was imported, and reported, then.
      this.done = known.done;
      this.options.counts.alreadyImported += preamble.counts.lines;
      this.tally = new HourlyTally();
      this.rangeStart = known.done;
      this.nextBoundary = (Math.floor(known.done / this.blockBytes) + 1) * this.blockBytes;
    } else {
      mergeCounts(this.options.counts, preamble.counts);
      for (const [line, reason] of preamble.bad) this.options.onBadLine(line, reason);
    }
    this.forcedEnd = known.pending?.end ?? null;
  }

  private report(line: number, reason: string): void {
    if (this.preamble) this.preamble.bad.push([line, reason]);
    else this.options.onBadLine(line, reason);
  }

  private async cut(end: number): Promise<void> {
    const stream = this.stream;
    if (stream === null || end <= this.rangeStart) return;
    const range = { stream, start: this.rangeStart, end };
    const events = this.tally.events(range, this.options.server);
    const { positions, counts } = this.options;
    positions.begin(stream, range.start, range.end);
    const result = await this.options.send(events);
    positions.commit(stream, range.end, this.lineNo);
    counts.events += events.length;
    counts.accepted += result.accepted;
    counts.duplicates += result.duplicates;
    counts.rejected += result.rejected.length;
    for (const reason of result.rejected) this.options.onRejected(reason);
    this.rangeStart = end;
    this.done = end;
    if (this.forcedEnd !== null && end >= this.forcedEnd) this.forcedEnd = null;
    while (this.nextBoundary <= end) this.nextBoundary += this.blockBytes;
    this.tally = new HourlyTally();
  }
}

function mergeCounts(into: SwiftLogCounts, from: SwiftLogCounts): void {
  into.lines += from.lines;
  into.requests += from.requests;
  into.subrequests += from.subrequests;
  into.bad += from.bad;
  into.alreadyImported += from.alreadyImported;
  for (const [program, n] of from.other) into.other.set(program, (into.other.get(program) ?? 0) + n);
}
