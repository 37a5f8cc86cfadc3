// tally ingest FILE|-: NDJSON into the store through the same parse and ingest code as POST /v1/events.

import fs from "node:fs";
import readline from "node:readline";
import { loadConfig } from "../config/config.js";
import { AppError, EXIT_CODE } from "../domain/errors.js";
import { ingestEvents } from "../ingest/ingest-events.js";
import { parseEventBody } from "../ingest/parse-body.js";
import { openStore } from "../store/open-store.js";

const BATCH = 10_000;
const SHOWN_REJECTIONS = 20;

export async function ingestCommand(file: string, flags: { data?: string; store?: string }): Promise<number> {
  const config = loadConfig(flags);
  const input = file === "-" ? process.stdin : fs.createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    if (file === "-") resolve();
    else
      input
        .once("open", () => resolve())
        .once("error", (e: Error) => reject(new AppError("VALIDATION", `cannot read ${file}: ${e.message}`)));
  });
  await opened;
  const total = file === "-" ? 0 : fs.statSync(file).size;
  const progress = process.stderr.isTTY ? new Progress(total) : undefined;
  const store = await openStore(config);
  const started = performance.now();
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  let bytes = 0;
  try {
    let lines: string[] = [];
    let lineNumbers: number[] = [];
    let lineNumber = 0;
    const flush = async () => {
      if (lines.length === 0) return;
      const result = await ingestEvents(store, parseEventBody(lines.join("\n"), "application/x-ndjson"));
      accepted += result.accepted;
      duplicates += result.duplicates;
      for (const r of result.rejected) {
        if (rejected++ < SHOWN_REJECTIONS) {
          progress?.clear();
          // The reason's own line number counts lines of the batch, not of the file: say the file's once.
          const reason = r.reason.replace(/^line \d+ is /, "");
          process.stderr.write(`line ${lineNumbers[r.index]}: ${reason}${r.id ? ` (id ${r.id})` : ""}\n`);
        }
      }
      lines = [];
      lineNumbers = [];
      progress?.update(bytes, accepted + duplicates + rejected);
    };
    for await (const line of readline.createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      lineNumber++;
      bytes += Buffer.byteLength(line) + 1;
      if (line.trim() === "") continue;
      lines.push(line);
      lineNumbers.push(lineNumber);
      if (lines.length >= BATCH) await flush();
    }
    await flush();
  } finally {
    progress?.clear();
    await store.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = Math.round((accepted + duplicates + rejected) / Math.max(seconds, 1e-3));
  const more = rejected > SHOWN_REJECTIONS ? ` (first ${SHOWN_REJECTIONS} shown)` : "";
  process.stdout.write(
    `ingested ${accepted + duplicates + rejected} events in ${seconds.toFixed(1)} s (${rate}/s): ` +
      `${accepted} accepted, ${duplicates} duplicates, ${rejected} rejected${more}\n`,
  );
  return rejected > 0 ? EXIT_CODE.VALIDATION : 0;
}

/** A one-line progress bar on standard error, for terminals only. */
class Progress {
  private lastDraw = 0;
  constructor(private readonly total: number) {}

  update(bytes: number, events: number): void {
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 30;
    const share = this.total > 0 ? Math.min(1, bytes / this.total) : 0;
    const bar =
      this.total > 0
        ? `[${"#".repeat(Math.round(share * width)).padEnd(width, ".")}] ${(share * 100).toFixed(0)}% `
        : "";
    process.stderr.write(`\r${bar}${events} events`);
  }

  clear(): void {
    process.stderr.write("\r\x1b[K");
  }
}
