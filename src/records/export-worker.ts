// A thread that makes the records of the pages of accounts an export gives it (export-pool.ts), on reads of its own
// (openAccountsReader), and answers each page with its records written out and the groups others may share.

import { parentPort, workerData } from "node:worker_threads";
import { openAccountsReader } from "../backend/open-reader.js";
import { messageOf } from "../domain/errors.js";
import type { ReaderLocation } from "../store/port.js";
import { StaleServers } from "../store/sqlite/accounts-reader.js";
import { type ExportOptions, type PageAnswer, PlaceCache, readPageRecords } from "./export-star.js";
import { renderRecords, type StarFormat } from "./write-star.js";

export interface ExportWorkerData {
  readonly location: ReaderLocation;
  readonly options: ExportOptions;
  readonly format: StarFormat;
}

export type ToExportWorker =
  | { readonly type: "page"; readonly id: number; readonly accounts: readonly string[] }
  /** A newer location: servers heard of since. */
  | { readonly type: "locate"; readonly location: ReaderLocation }
  /** Closes the reads once the pages given are made; the thread then ends. */
  | { readonly type: "close" };

export type FromExportWorker =
  | ({ readonly type: "page"; readonly id: number } & PageAnswer)
  /** The page names a server this thread has no name for: send a newer location, then the page again. */
  | { readonly type: "stale"; readonly id: number }
  | { readonly type: "failed"; readonly id: number; readonly message: string };

const port = parentPort;
if (port) run(workerData as ExportWorkerData);

function run({ location, options, format }: ExportWorkerData): void {
  const out = port as NonNullable<typeof parentPort>;
  const reader = openAccountsReader(location);
  const places = new PlaceCache(options.config);
  const encoder = new TextEncoder();
  // Pages are made one at a time, in the order they came: each waits for the one before.
  let last: Promise<void> = Promise.resolve();
  out.on("message", (m: ToExportWorker) => {
    if (m.type === "locate") {
      last = last.then(() => reader.locate(m.location));
      return;
    }
    if (m.type === "close") {
      void last.then(() => reader.close()).finally(() => out.close());
      return;
    }
    last = last.then(async () => {
      try {
        const { records, shared } = await readPageRecords(reader, m.accounts, options, places);
        // In UTF-8 here, where it costs this thread: what the export writes out is bytes, handed over without a copy.
        const bytes = encoder.encode(renderRecords(records, format));
        out.postMessage({ type: "page", id: m.id, bytes, shared }, [bytes.buffer]);
      } catch (error) {
        if (error instanceof StaleServers) out.postMessage({ type: "stale", id: m.id });
        else out.postMessage({ type: "failed", id: m.id, message: messageOf(error) });
      }
    });
  });
}
