// The use case behind `tally import swift-log`: read Swift proxy access logs (plain or gzipped, files or standard
// input) and send their requests, summed by hour, account and method, through the ingest path.

import fs from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { AppError } from "../domain/errors.js";
import type { SendEvents } from "./send-events.js";
import { SwiftLogLineParser } from "./swift-log-line.js";
import type { SwiftLogPositions } from "./swift-log-positions.js";
import { READ_CHUNK, type SwiftLogCounts, SwiftLogStream } from "./swift-log-stream.js";

export interface SwiftLogImportOptions {
  readonly server: string;
  readonly unattributed: string;
  readonly logNames?: readonly string[];
  readonly positions: SwiftLogPositions;
  readonly send: SendEvents;
  readonly counts: SwiftLogCounts;
  readonly onBadLine: (name: string, line: number, reason: string) => void;
  readonly onRejected: (reason: string) => void;
  /** Bytes read from the input (compressed bytes for a gzipped one), as they are read. */
  readonly onRead?: (bytes: number) => void;
  readonly blockBytes?: number;
  /** The file will not grow (a rotated log): its last line counts even without a newline. */
  readonly ended?: boolean;
}

export interface ImportedInput {
  readonly name: string;
  readonly gzipped: boolean;
  /** Bytes of an unfinished last line left for the next import. */
  readonly left: number;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** Imports one input: `-` is standard input. A gzipped input is recognised by its first bytes, whatever its name. */
export async function importSwiftLog(file: string, options: SwiftLogImportOptions): Promise<ImportedInput> {
  const name = file === "-" ? "standard input" : file;
  const source: Readable = file === "-" ? process.stdin : await openFile(file);
  const parser = new SwiftLogLineParser(options.logNames ? { logNames: options.logNames } : {});
  const stream = new SwiftLogStream({
    server: options.server,
    unattributed: options.unattributed,
    positions: options.positions,
    send: options.send,
    parser,
    counts: options.counts,
    onBadLine: (line, reason) => options.onBadLine(name, line, reason),
    onRejected: options.onRejected,
    ...(options.blockBytes ? { blockBytes: options.blockBytes } : {}),
  });
  const { chunks, gzipped } = await decompressed(source, options.onRead);
  for await (const chunk of readErrorsNamed(chunks, name)) await stream.feed(chunk);
  // A plain file may still be being written; standard input, a gzipped file and a rotated log have ended for good.
  const left = await stream.end(file === "-" || gzipped || options.ended === true);
  return { name, gzipped, left };
}

async function openFile(file: string): Promise<Readable> {
  const input = fs.createReadStream(file, { highWaterMark: READ_CHUNK });
  await new Promise<void>((resolve, reject) => {
    input.once("open", () => resolve());
    input.once("error", (e: Error) =>
      reject(new AppError("VALIDATION", `cannot read ${file}: ${e.message}`, { file })),
    );
  });
  return input;
}

/**
 * The chunks, with an error in reading them (a corrupt gzip stream, a failing disk) said as one and naming the input;
 * errors of the loop that consumes them (the sink's) pass through as they are.
 */
async function* readErrorsNamed(chunks: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of chunks) yield chunk;
  } catch (error) {
    throw new AppError("VALIDATION", `cannot read ${name}: ${(error as Error).message}`, { file: name });
  }
}

/** The input's bytes, gunzipped when they start as gzip does; reports the bytes read before decompression. */
async function decompressed(
  source: Readable,
  onRead?: (bytes: number) => void,
): Promise<{ chunks: AsyncIterable<Buffer>; gzipped: boolean }> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await iterator.next();
  if (first.done) return { chunks: (async function* () {})(), gzipped: false };
  const head = first.value;
  const gzipped = head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  async function* raw(): AsyncGenerator<Buffer> {
    onRead?.(head.length);
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      onRead?.(next.value.length);
      yield next.value;
    }
  }
  if (!gzipped) return { chunks: raw(), gzipped };
  const gunzip = createGunzip({ chunkSize: READ_CHUNK });
  // Fed by hand so that a read error and a corrupt stream both reach the loop that reads the output.
  (async () => {
    try {
      for await (const chunk of raw()) {
        if (!gunzip.write(chunk)) await new Promise((resolve) => gunzip.once("drain", resolve));
      }
      gunzip.end();
    } catch (error) {
      gunzip.destroy(error as Error);
    }
  })();
  return { chunks: gunzip, gzipped };
}
