// Worker threads that make an export's pages of records (export-worker.ts), each on reads of its own: the reads and
// the writing of records, an export's whole cost, spread over the machine's cores.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { UsageReader } from "../store/port.js";
import type { ExportOptions, PageAnswer, PagePool } from "./export-star.js";
import type { ExportWorkerData, FromExportWorker, ToExportWorker } from "./export-worker.js";
import type { StarFormat } from "./write-star.js";

/** Threads an export starts by default: one per core, and no more than four. */
export function exportThreads(): number {
  return Math.min(4, availableParallelism());
}

/** Pages given to each thread before the export waits for an answer: one being made, one waiting. */
const PAGES_PER_WORKER = 2;

interface Pending {
  readonly accounts: readonly string[];
  /** Times the page was sent again with a newer location. */
  located: number;
  readonly resolve: (answer: PageAnswer) => void;
  readonly reject: (error: Error) => void;
}

/** Starts `size` threads on the reader's location. */
export async function startExportPool(
  reader: UsageReader,
  options: ExportOptions,
  format: StarFormat,
  size: number,
): Promise<PagePool> {
  const data: ExportWorkerData = { location: await reader.readerLocation(), options, format };
  const workers = Array.from({ length: size }, () => new Worker(workerUrl(), { workerData: data }));
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  const send = (worker: Worker, message: ToExportWorker) => worker.postMessage(message);
  for (const worker of workers) {
    worker.on("error", (error) => fail(error));
    worker.on("exit", (code) => fail(new Error(`an export thread stopped (exit code ${code})`)));
    worker.on("message", (m: FromExportWorker) => {
      const p = pending.get(m.id);
      if (p === undefined) return;
      if (m.type === "page") {
        pending.delete(m.id);
        p.resolve({ bytes: m.bytes, shared: m.shared });
      } else if (m.type === "failed") {
        pending.delete(m.id);
        p.reject(new Error(m.message));
      } else if (p.located++ >= 2) {
        pending.delete(m.id);
        p.reject(new Error("an export thread found servers that the store does not name"));
      } else {
        // Servers heard of since the location was taken: a newer one, then the page again (servers are never removed).
        reader.readerLocation().then(
          (location) => {
            send(worker, { type: "locate", location });
            send(worker, { type: "page", id: m.id, accounts: p.accounts });
          },
          (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
        );
      }
    });
  }
  let turn = 0;
  return {
    depth: size * PAGES_PER_WORKER,
    run(accounts) {
      if (failure) return Promise.reject(failure);
      const worker = workers[turn++ % workers.length] as Worker;
      const id = nextId++;
      return new Promise<PageAnswer>((resolve, reject) => {
        pending.set(id, { accounts, located: 0, resolve, reject });
        send(worker, { type: "page", id, accounts });
      });
    },
    async close() {
      failure ??= new Error("the export has ended");
      await Promise.all(
        workers.map((worker) => {
          worker.removeAllListeners("exit");
          const exited = new Promise((resolve) => worker.once("exit", resolve));
          send(worker, { type: "close" });
          return exited;
        }),
      );
    },
  };
}

/**
 * The worker's script: beside this module once built. Tests run the TypeScript sources, which a worker thread
 * cannot load; they use the build of the same file (`npm test` builds first).
 */
function workerUrl(): URL {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith(".ts")) return new URL("./export-worker.js", here);
  return new URL("../../dist/src/records/export-worker.js", here);
}
