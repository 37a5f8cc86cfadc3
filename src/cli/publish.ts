// tally ingest FILE --to nats://…: publishes NDJSON events to JetStream, one message per event, for the nodes that
// consume the stream to store. Nothing is stored here.

import { EventPublisher } from "../broker/publish-events.js";
import { EXIT_CODE } from "../domain/errors.js";
import { type StreamFlags, streamSettings } from "./consume-flags.js";
import { lineBatches, openInput } from "./input-lines.js";
import { startProgress } from "./progress.js";

const BATCH = 10_000;
const SHOWN_REJECTIONS = 20;

export async function publishCommand(file: string, url: string, flags: StreamFlags): Promise<number> {
  const settings = streamSettings(flags);
  const { input, total } = await openInput(file);
  const publisher = await EventPublisher.open(url, settings);
  const progress = startProgress({ label: "publishing", total, unit: "events" });
  const started = performance.now();
  let published = 0;
  let duplicates = 0;
  let rejected = 0;
  try {
    for await (const { lines, lineNumbers, bytes } of lineBatches(input, BATCH)) {
      const outcome = await publisher.publish(lines);
      published += outcome.published;
      duplicates += outcome.duplicates;
      for (const r of outcome.rejected)
        if (rejected++ < SHOWN_REJECTIONS) progress.log(`line ${lineNumbers[r.index]} ${r.reason}\n`);
      progress.update(bytes, published + duplicates + rejected);
    }
  } finally {
    progress.stop();
    await publisher.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = Math.round((published + duplicates + rejected) / Math.max(seconds, 1e-3));
  const more = rejected > SHOWN_REJECTIONS ? ` (first ${SHOWN_REJECTIONS} shown)` : "";
  process.stdout.write(
    `published ${published + duplicates + rejected} events to stream ${settings.stream} in ${seconds.toFixed(1)} s ` +
      `(${rate}/s): ${published} stored by the broker, ${duplicates} dropped by it as duplicates, ${rejected} rejected${more}\n`,
  );
  return rejected > 0 ? EXIT_CODE.VALIDATION : 0;
}
