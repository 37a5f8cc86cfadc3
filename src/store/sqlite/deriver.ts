// The main thread's side of the derivation worker (derive-worker.ts): sends it every committed event block, in sequence
// and packed (packed-block.ts), and waits for it where the store must. A block committed while nothing is behind goes
// straight from the batch; otherwise the blocks from the first one not sent are read back from the log (after a start,
// a rebuild or a failure). Ingest waits when the worker is too far behind, so memory stays bounded and clients slow
// down instead; a read first syncs, so it sees every event acknowledged before it. A derived database found damaged
// is reported (start rejects with DerivedDamage; later, `damage` and onDamage): the store replaces it.

import { type ResourceLimits, Worker } from "node:worker_threads";
import { AppError, messageOf } from "../../domain/errors.js";
import type { DerivationLag } from "../port.js";
import { LagClock } from "./derivation-lag.js";
import type { DeriveWorkerOptions, FromWorker, ToWorker } from "./derive-worker.js";
import { DerivedDamage, isDamage } from "./derived-damage.js";
import { forWorker, type LogBlock, type PackedBlock } from "./packed-block.js";

/** The event log, as the deriver reads it back. */
export interface BlockSource {
  /** The first sequence number not committed. */
  end(): number;
  /** The first sequence numbers of the blocks holding events from `seq` on, in order. */
  blockStarts(seq: number): number[];
  /** A block, as the worker reads it. */
  block(firstSeq: number): PackedBlock;
}

/** Events sent and not yet applied beyond which ingest waits for the worker: a read waits for at most these. */
const MAX_BEHIND = 100_000;

type Request = Extract<ToWorker, { id: number }>;
type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, "id"> : never) : never;
type Answer = number | boolean | string;

export class Deriver {
  /** The first event not sent to the worker. */
  private sent: number;
  /** The first event the worker has not applied, as it last said. */
  private applied: number;
  private feeding: Promise<void> | null = null;
  private nextId = 1;
  private readonly requests = new Map<number, { resolve: (v: Answer) => void; reject: (e: Error) => void }>();
  private progress: (() => void)[] = [];
  private lastFailure: string | null = null;
  /** Moves on with every failure, which takes `sent` back: a feed that sees it move starts again from there. */
  private failures = 0;
  private stopped: Error | null = null;
  /** What the worker found damaged in the derived database, if it did. */
  private damageFound: string | null = null;
  private readonly clock = new LagClock();
  /** The log's end as of the last sync that found it all derived: a read with nothing committed since asks no more. */
  private synced = -1;

  private constructor(
    private readonly worker: Worker,
    cursor: number,
    private readonly source: BlockSource,
    private readonly onDamage: (reason: string) => void,
  ) {
    this.sent = cursor;
    this.applied = cursor;
    // What the log holds beyond the cursor was committed before this start, at a time not kept: it waits from now.
    this.clock.waiting(source.end(), Date.now());
    worker.on("message", (m: FromWorker) => this.receive(m));
    worker.on("error", (error) => this.stop(error));
    worker.on("exit", (code) => this.stop(new Error(`the derivation worker stopped (exit code ${code})`)));
  }

  /**
   * Starts the worker on the derived database and sends it what the log holds beyond its cursor. Rejects with
   * DerivedDamage when the database cannot be opened or read, or covers events the log does not hold.
   */
  static async start(
    options: DeriveWorkerOptions,
    source: BlockSource,
    onDamage: (reason: string) => void = () => {},
  ): Promise<Deriver> {
    const worker = new Worker(workerUrl(), { workerData: options, resourceLimits: heapLimits(options.heapMiB) });
    const { cursor, covered } = await new Promise<{ cursor: number; covered: number }>((resolve, reject) => {
      const fail = (error: unknown) => reject(error instanceof Error ? error : new Error(messageOf(error)));
      worker.once("error", fail);
      worker.once("exit", (code) => reject(new Error(`the derivation worker stopped (exit code ${code})`)));
      worker.once("message", (m: FromWorker) => {
        worker.off("error", fail);
        worker.removeAllListeners("exit");
        if (m.type === "ready") resolve(m);
        else if (m.type === "unopened") reject(m.damaged ? new DerivedDamage(m.message) : new Error(m.message));
        else reject(new Error(`the derivation worker did not start: ${JSON.stringify(m)}`));
      });
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    const end = source.end();
    if (covered > end) {
      await worker.terminate();
      throw new DerivedDamage(`it covers ${covered - 1} events, and the event log holds ${end - 1}`);
    }
    const deriver = new Deriver(worker, cursor, source, onDamage);
    void deriver.feed().catch(() => {});
    return deriver;
  }

  /** What the worker found damaged in the derived database, or null: the store must replace it. */
  get damage(): string | null {
    return this.damageFound;
  }

  /** A block just committed: sent now if nothing is behind it. */
  committed(block: LogBlock): void {
    this.clock.waiting(block.firstSeq + block.count, Date.now());
    if (this.feeding === null && this.sent === block.firstSeq && this.stopped === null) {
      this.send(forWorker(block));
    } else {
      void this.feed().catch(() => {});
    }
  }

  /** How far the worker is behind the log, as it last said. */
  lag(): DerivationLag {
    return this.clock.lag(this.applied, this.source.end(), Date.now());
  }

  /** Waits while the worker is too far behind. */
  async room(): Promise<void> {
    while (this.sent - this.applied > MAX_BEHIND) await this.nextProgress();
  }

  /** Waits until the derived database holds every event committed before the call. */
  async sync(): Promise<void> {
    const target = this.source.end();
    if (target === this.synced && this.stopped === null) return;
    const failures = this.failures;
    // One try from where the worker is: a failure during it fails the read, not loops.
    while (this.sent < target && this.failures === failures) await this.feed();
    const cursor = this.failures === failures ? ((await this.request({ type: "sync" })) as number) : 0;
    if (cursor < target) {
      throw new AppError(
        "UNAVAILABLE",
        `the rollups could not be brought up to date: ${this.lastFailure ?? "the derivation worker fell behind"}`,
      );
    }
    this.synced = target;
  }

  /** Holds the usage table's snapshot at `seq` (usage-snapshots.ts). */
  async hold(seq: number): Promise<boolean> {
    return (await this.request({ type: "hold", seq })) as boolean;
  }

  /** The first problem PRAGMA quick_check finds in the derived database, or "ok". */
  async check(): Promise<string> {
    return (await this.request({ type: "check" })) as string;
  }

  /** Empties the derived database; the whole log is sent again. Resolves once it is derived. */
  async rebuild(): Promise<void> {
    while (this.feeding) await this.feeding;
    this.synced = -1;
    const cursor = (await this.request({ type: "reset" })) as number;
    this.clock.back(cursor, this.source.end(), Date.now());
    this.sent = cursor;
    this.applied = cursor;
    await this.sync();
  }

  /** Writes everything and stops the worker. */
  async close(): Promise<void> {
    await this.sync();
    const exited = new Promise((resolve) => this.worker.once("exit", resolve));
    await this.request({ type: "close" });
    this.stopped = new AppError("UNAVAILABLE", "the store is closed");
    // The worker ends once its port is closed (letting it exit, rather than stopping it, lets a profiler finish).
    await exited;
  }

  /** Stops the worker without letting it write what it holds in memory: what a crash does. */
  async abandon(reason = "the store is closed"): Promise<void> {
    this.halt(new AppError("UNAVAILABLE", reason));
    await this.worker.terminate();
  }

  /**
   * Sends the blocks from the first not sent up to the end of the log, waiting for room as it goes. Stops at a
   * failure: the next batch or read tries again from the worker's cursor, so a failure that stays (a full disk)
   * costs one try per batch, not a loop.
   */
  private feed(): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.feeding === null) {
      const failures = this.failures;
      this.feeding = (async () => {
        while (this.sent < this.source.end() && this.failures === failures) {
          for (const first of this.source.blockStarts(this.sent)) {
            this.send(this.source.block(first));
            await this.room();
            if (this.failures !== failures) break;
          }
        }
      })().finally(() => {
        this.feeding = null;
      });
    }
    return this.feeding;
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case "applied":
        this.applied = m.cursor;
        this.clock.derived(m.cursor);
        break;
      case "done":
        this.settle(m.id, (r) => r.resolve(m.value));
        break;
      case "failed":
        // The worker went back to its cursor on disk: send from there again.
        this.lastFailure = m.message;
        this.failures++;
        this.clock.back(m.cursor, this.applied, Date.now());
        this.sent = m.cursor;
        this.applied = m.cursor;
        if (m.damaged && this.damageFound === null) {
          this.damageFound = m.message;
          this.onDamage(m.message);
        }
        if (m.id !== undefined)
          this.settle(m.id, (r) => r.reject(new AppError("UNAVAILABLE", `the derivation worker failed: ${m.message}`)));
        break;
      case "ready":
      case "unopened":
        break;
    }
    for (const wake of this.progress.splice(0)) wake();
  }

  private settle(id: number, how: (r: { resolve: (v: Answer) => void; reject: (e: Error) => void }) => void) {
    const request = this.requests.get(id);
    this.requests.delete(id);
    if (request) how(request);
  }

  private request(body: RequestBody): Promise<Answer> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject });
      this.post({ ...body, id } as Request);
    });
  }

  private nextProgress(): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise((resolve) => this.progress.push(resolve));
  }

  /** Posts to the worker, moving the buffers in `transfer` rather than copying them. */
  private post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.stopped === null) this.worker.postMessage(message, transfer);
  }

  /** Sends a block to the worker, moving its typed arrays there. */
  private send(block: PackedBlock): void {
    this.post({ type: "apply", block }, [block.refs.buffer, block.numbers.buffer]);
    this.sent = block.firstSeq + block.count;
  }

  private stop(error: unknown): void {
    if (this.stopped) return;
    this.halt(new AppError("UNAVAILABLE", `the rollups cannot be derived: ${messageOf(error)}`));
    if (isDamage(error) && this.damageFound === null) {
      this.damageFound = messageOf(error);
      this.onDamage(this.damageFound);
    }
  }

  /** Fails every request waiting for the worker, and every later one, with `error`. */
  private halt(error: AppError): void {
    if (this.stopped) return;
    this.stopped = error;
    for (const r of this.requests.values()) r.reject(error);
    this.requests.clear();
    for (const wake of this.progress.splice(0)) wake();
  }
}

/**
 * V8 limits for the worker, whose caches are sized to its share of the memory budget: a heap limit well above the
 * share, a margin for series with long names and for what a write-behind gathers (50,000 events' worth, whatever the
 * budget); a worker past it stops. A limit small next to the machine's memory also keeps V8 from letting the heap
 * grow to several times what is live.
 */
function heapLimits(heapMiB: number): ResourceLimits {
  // Two semi-spaces of 8 MiB (and as much for large objects): V8 would size them from the heap limit, smaller, and
  // collect too often; the main thread's 16 MiB ones would cost 16 MiB more, for no gain beyond the runs' noise.
  return { maxOldGenerationSizeMb: 2 * heapMiB + 64, maxYoungGenerationSizeMb: 24 };
}

/**
 * The worker's script: beside this module once built. Tests run the TypeScript sources, which a worker thread
 * cannot load; they use the build of the same file (`npm test` builds first).
 */
function workerUrl(): URL {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith(".ts")) return new URL("./derive-worker.js", here);
  return new URL("../../../dist/src/store/sqlite/derive-worker.js", here);
}
