// tally ingest FILE|-: NDJSON into the store through the same parse and ingest code as POST /v1/events.

import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { EXIT_CODE } from "../domain/errors.js";
import { ingestEvents } from "../ingest/ingest-events.js";
import { parseEventBody } from "../ingest/parse-body.js";
import type { StreamFlags } from "./consume-flags.js";
import { byteLines, isBlank, openInput } from "./input-lines.js";
import { startProgress } from "./progress.js";
import { publishCommand } from "./publish.js";

const BATCH = 10_000;
const SHOWN_REJECTIONS = 20;

export interface IngestFlags extends StreamFlags {
  data?: string;
  store?: string;
  /** Publish to JetStream at this URL instead of storing. */
  to?: string;
}

export async function ingestCommand(file: string, flags: IngestFlags): Promise<number> {
  if (flags.to !== undefined) return publishCommand(file, flags.to, flags);
  const config = loadConfig(flags);
  const { input, total } = await openInput(file);
  const backend = await openBackend(config);
  const progress = startProgress({ label: "ingesting", total, unit: "events" });
  const started = performance.now();
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  let bytes = 0;
  try {
    let lines: Buffer[] = [];
    let lineNumbers: number[] = [];
    let lineNumber = 0;
    const flush = async () => {
      if (lines.length === 0) return;
      // Bytes, not decoded text: a line that is not UTF-8 is refused, never read as U+FFFD.
      const body = Buffer.concat(lines.flatMap((line, i) => (i === 0 ? [line] : [NEWLINE, line])));
      const result = await ingestEvents(backend.events, parseEventBody(body, "application/x-ndjson"));
      accepted += result.accepted;
      duplicates += result.duplicates;
      rejected += result.rejected_omitted ?? 0;
      for (const r of result.rejected) {
        if (rejected++ < SHOWN_REJECTIONS) {
          // The reason's own line number counts lines of the batch, not of the file: say the file's once.
          const reason = r.reason.replace(/^line \d+ is /, "");
          progress.log(`line ${lineNumbers[r.index]}: ${reason}${r.id ? ` (id ${r.id})` : ""}\n`);
        }
      }
      lines = [];
      lineNumbers = [];
      progress.update(bytes, accepted + duplicates + rejected);
    };
    for await (const line of byteLines(input)) {
      lineNumber++;
      bytes += line.length + 1;
      if (isBlank(line)) continue;
      lines.push(line);
      lineNumbers.push(lineNumber);
      if (lines.length >= BATCH) await flush();
    }
    await flush();
  } finally {
    progress.stop();
    await backend.close();
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

const NEWLINE = Buffer.from("\n");
