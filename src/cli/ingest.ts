// tally ingest FILE|-: NDJSON into the store through the same parse and ingest code as POST /v1/events, or, while
// `tally serve` holds the store (or with --url), through that server's POST /v1/events with the admin token.

import type { Backend } from "../backend/backend.js";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { EXIT_CODE } from "../domain/errors.js";
import { type IngestResult, ingestEvents } from "../ingest/ingest-events.js";
import { parseEventBody } from "../ingest/parse-body.js";
import type { StreamFlags } from "./consume-flags.js";
import { lineBatches, openInput } from "./input-lines.js";
import { startProgress } from "./progress.js";
import { publishCommand } from "./publish.js";
import { type RemoteFlags, remote, throughRunningServer } from "./remote.js";

const BATCH = 10_000;
const SHOWN_REJECTIONS = 20;

export interface IngestFlags extends StreamFlags, RemoteFlags {
  /** Publish to JetStream at this URL instead of storing. */
  to?: string;
}

export async function ingestCommand(file: string, given: IngestFlags): Promise<number> {
  if (given.to !== undefined) return publishCommand(file, given.to, given);
  const flags = throughRunningServer(given);
  const config = loadConfig(flags);
  const { input, total } = await openInput(file);
  const backend: Backend | null = flags.url === undefined ? await openBackend(config) : null;
  // A batch of at most BATCH lines stays under the server's body limit unless its lines are very long.
  const store = (body: Buffer): Promise<IngestResult> =>
    backend !== null
      ? ingestEvents(backend.events, parseEventBody(body, "application/x-ndjson"))
      : remote<IngestResult>(flags, "POST", "/v1/events", undefined, {
          bytes: body,
          contentType: "application/x-ndjson",
        });
  const progress = startProgress({ label: "ingesting", total, unit: "events" });
  const started = performance.now();
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  try {
    for await (const { lines, lineNumbers, bytes } of lineBatches(input, BATCH)) {
      // Bytes, not decoded text: a line that is not UTF-8 is refused, never read as U+FFFD.
      const body = Buffer.concat(lines.flatMap((line, i) => (i === 0 ? [line] : [NEWLINE, line])));
      const result = await store(body);
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
      progress.update(bytes, accepted + duplicates + rejected);
    }
  } finally {
    progress.stop();
    await backend?.close();
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
