// tally records publish: each period's StAR records, once the period is over, as one message in a directory queue.

import fs from "node:fs";
import path from "node:path";
import { validation } from "../domain/errors.js";
import { addDirqMessage } from "./dirq.js";
import { PERIOD_MS, type StarPeriod } from "./export-star.js";

/** `--every`: one day or one hour, the periods records are made for. */
export function parseEvery(raw: string): StarPeriod {
  if (raw === "1d" || raw === "day") return "day";
  if (raw === "1h" || raw === "hour") return "hour";
  throw validation(`--every must be 1d or 1h, not "${raw}"`);
}

/** Where a queue remembers the end of the last period published (dirq reads only its hex-named entries). */
export const PUBLISHED_FILE = ".tally-published";

export function lastPublished(dir: string): number | null {
  try {
    const text = fs.readFileSync(path.join(dir, PUBLISHED_FILE), "utf8");
    const end = (JSON.parse(text) as { end?: unknown }).end;
    return typeof end === "number" ? end : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw validation(`cannot read ${path.join(dir, PUBLISHED_FILE)}: ${(error as Error).message}`);
  }
}

function remember(dir: string, end: number): void {
  const file = path.join(dir, PUBLISHED_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ end }));
  fs.renameSync(`${file}.tmp`, file);
}

/** The periods over by `now` and not yet published: the last one only, on a first run. */
export function duePeriods(period: StarPeriod, now: number, last: number | null): [number, number][] {
  const step = PERIOD_MS[period];
  const end = now - (now % step);
  const start = last === null ? end - step : last;
  const due: [number, number][] = [];
  for (let t = start; t + step <= end; t += step) due.push([t, t + step]);
  return due;
}

/**
 * Publishes every period due: one message each, in order; the period is remembered once its message is in the
 * queue, so a publish cut short sends that period again rather than never.
 */
export async function publishDue(
  dir: string,
  period: StarPeriod,
  now: number,
  render: (from: number, to: number) => Promise<string | AsyncIterable<Uint8Array>>,
): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [from, to] of duePeriods(period, now, lastPublished(dir))) {
    written.push(await addDirqMessage(dir, await render(from, to)));
    remember(dir, to);
  }
  return written;
}
