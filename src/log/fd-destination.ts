// Where log lines go: a file descriptor written without ever blocking or throwing. A line the descriptor cannot
// take is held a while (a reader that is behind) or dropped (a full disk, a broken pipe), and drops are counted.

import fs from "node:fs";
import net from "node:net";

/** What /healthz reports about the log. */
export interface LogStats {
  /** Lines never written since the start. */
  readonly dropped: number;
}

export interface FdDestinationOptions {
  /** Bytes held for a reader that is behind (EAGAIN); a line that would take more is dropped. */
  readonly maxHeldBytes?: number;
  /** How long to wait before writing held lines again. */
  readonly retryMs?: number;
}

const NEWLINE = Buffer.from("\n");

/** A pino destination: pino calls write() with one JSON line at a time. */
export class FdDestination implements LogStats {
  readonly #fd: number;
  readonly #maxHeldBytes: number;
  readonly #retryMs: number;
  #dropped = 0;
  /** Lines waiting for the descriptor, oldest first; the first may be partly written. */
  readonly #held: Buffer[] = [];
  #heldBytes = 0;
  /** The first held line is partly written. */
  #partial = false;
  /** A line was cut short by a failure: the next one starts on a new line rather than joining its remains. */
  #torn = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(fd: number, options: FdDestinationOptions = {}) {
    this.#fd = fd;
    this.#maxHeldBytes = options.maxHeldBytes ?? 1024 * 1024;
    this.#retryMs = options.retryMs ?? 100;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Lines accepted but not yet written. */
  get held(): number {
    return this.#held.length;
  }

  write(line: string): void {
    try {
      const bytes = Buffer.from(line, "utf8");
      // One line is always let in, so that a line longer than the bound is still tried.
      if (this.#held.length > 0 && this.#heldBytes + bytes.length > this.#maxHeldBytes) {
        this.#dropped++;
        return;
      }
      this.#held.push(bytes);
      this.#heldBytes += bytes.length;
      // While a retry is pending the descriptor said EAGAIN: the line waits its turn.
      if (this.#timer === undefined) this.#drain();
    } catch {
      this.#dropped++;
    }
  }

  /** Writes held lines until none is left or the descriptor has to be waited for. */
  #drain(): void {
    while (this.#held.length > 0) {
      // After a line cut short, a newline first, so that the next line does not join its remains.
      const newlineFirst = this.#torn && !this.#partial;
      const outcome = this.#attempt(newlineFirst ? NEWLINE : (this.#held[0] as Buffer));
      if (outcome === "again") {
        this.#retryLater();
        return;
      }
      if (outcome === "failed") this.#drop();
      else if (newlineFirst) this.#torn = false;
      else this.#wrote(outcome);
    }
  }

  /** The bytes the descriptor took now, "again" when it would block, "failed" when it cannot be written. */
  #attempt(bytes: Buffer): number | "again" | "failed" {
    try {
      const written = fs.writeSync(this.#fd, bytes);
      return written > 0 ? written : "again";
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === "EAGAIN" || code === "EWOULDBLOCK" || code === "EINTR" ? "again" : "failed";
    }
  }

  /** The descriptor took this many bytes of the first held line. */
  #wrote(count: number): void {
    const head = this.#held[0] as Buffer;
    this.#heldBytes -= count;
    this.#partial = count < head.length;
    if (this.#partial) this.#held[0] = head.subarray(count);
    else this.#held.shift();
  }

  /** The first held line is lost; if it was begun, the log is left in the middle of a line. */
  #drop(): void {
    const head = this.#held.shift() as Buffer;
    this.#heldBytes -= head.length;
    if (this.#partial) this.#torn = true;
    this.#partial = false;
    this.#dropped++;
  }

  #retryLater(): void {
    // Unreferenced: lines waiting for a reader never keep the process from exiting.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, this.#retryMs).unref();
  }
}

/**
 * Standard output as a log destination. A pipe or socket is made non-blocking first: on a blocking one, a reader
 * that stops reading would stop the server at its next log line.
 */
export function stdoutDestination(options: FdDestinationOptions = {}): FdDestination {
  makeNonBlocking(1);
  return new FdDestination(1, options);
}

/** Sets O_NONBLOCK on a pipe or socket; leaves files and terminals, which never say EAGAIN, as they are. */
export function makeNonBlocking(fd: number): void {
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFIFO() && !stat.isSocket()) return;
    // Node has no fcntl(); libuv sets O_NONBLOCK on any pipe or socket it opens a stream on, as process.stdout does.
    // The stream is never read or written, and its handle lives (keeping the descriptor open) until closed.
    new net.Socket({ fd, readable: false, writable: true }).unref();
  } catch {
    // Left blocking: still written, and still never thrown from.
  }
}
