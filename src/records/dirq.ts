// One message into a directory queue as Python dirq's QueueSimple writes it, which APEL's SSM sender reads:
// DIR/<8 hex: seconds, rounded down to the granularity>/<14 hex: seconds, microseconds, a random digit>, written
// under the name plus ".tmp", synced, then linked to its name and the temporary name removed.

import { randomInt } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** QueueSimple's default: one subdirectory per minute. */
export const DIRQ_GRANULARITY_SECONDS = 60;

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/** A QueueSimple element name for a time in microseconds: %08x%05x%01x of seconds, microseconds, random. */
export function dirqName(micros: bigint): string {
  const seconds = Number(micros / 1_000_000n);
  const usec = Number(micros % 1_000_000n);
  return `${hex(seconds, 8)}${hex(usec, 5)}${hex(randomInt(16), 1)}`;
}

/**
 * Adds a message to the queue at `dir` and returns its path. Readers never see it half written; a body that fails
 * part way leaves nothing behind. A body given in pieces is written as they come, never held whole.
 */
export async function addDirqMessage(
  dir: string,
  body: string | Uint8Array | AsyncIterable<Uint8Array>,
  nowMs = Date.now(),
): Promise<string> {
  const seconds = Math.floor(nowMs / 1000);
  const sub = path.join(dir, hex(seconds - (seconds % DIRQ_GRANULARITY_SECONDS), 8));
  fs.mkdirSync(sub, { recursive: true });
  const micros = BigInt(nowMs) * 1000n + ((process.hrtime.bigint() / 1000n) % 1000n);
  let temporary = "";
  let file: fs.promises.FileHandle;
  for (;;) {
    temporary = path.join(sub, `${dirqName(micros)}.tmp`);
    try {
      file = await fs.promises.open(temporary, "wx", 0o644);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  try {
    if (typeof body === "string" || body instanceof Uint8Array) await file.writeFile(body);
    else for await (const piece of body) await file.write(piece);
    await file.sync();
  } catch (error) {
    await file.close();
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  await file.close();
  for (;;) {
    const final = path.join(sub, dirqName(micros));
    try {
      // A link, as dirq makes it: it fails rather than replace a message that has the name already.
      fs.linkSync(temporary, final);
      fs.unlinkSync(temporary);
      return final;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}
