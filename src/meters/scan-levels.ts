// What a scan sends: one level event per account and metric, at the time the scan started, and a zero for every
// account the previous scan of the same target reported and this one did not find (its space is gone, and a level
// holds until the next reading). The accounts each target last reported are kept in a small file for that.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { RawEvent } from "../domain/event.js";

export type Levels = Map<string, Readonly<Record<string, bigint>>>;

/**
 * `scan:<target>:<time>:<metric>:<account>`: a scan sent again (after a failure) repeats its ids; the target (a
 * hash of what was scanned) keeps two scanners on one server apart.
 */
export function scanEvents(server: string, target: string, time: number, levels: Levels): RawEvent[] {
  const iso = new Date(time).toISOString();
  const t = createHash("sha256").update(target).digest("hex").slice(0, 12);
  const events: RawEvent[] = [];
  for (const [account, metrics] of levels) {
    for (const [metric, value] of Object.entries(metrics)) {
      let id = `scan:${t}:${iso}:${metric}:${account}`;
      if (Buffer.byteLength(id) > 256) id = `scan:${t}:${iso}:${metric}:#${hash(account)}`;
      events.push({
        id,
        server,
        time: iso,
        account,
        metric,
        value: value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString(),
      });
    }
  }
  return events;
}

/** Adds zeros for the accounts the previous scan of the target had and this one lacks. */
export function withVanished(levels: Levels, previous: readonly string[], metrics: readonly string[]): Levels {
  const all: Levels = new Map(levels);
  for (const account of previous) {
    if (!all.has(account)) all.set(account, Object.fromEntries(metrics.map((m) => [m, 0n])));
  }
  return all;
}

/** The accounts each scan target reported last, in DATA/scan-accounts.json. */
export class ScanAccountsFile {
  constructor(readonly file: string) {}

  read(target: string): string[] {
    return this.all()[target] ?? [];
  }

  /** Written once the scan's events are committed; atomically, so that a crash leaves the old list or the new. */
  write(target: string, accounts: readonly string[]): void {
    const all = this.all();
    all[target] = [...accounts];
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(all)}\n`, { mode: 0o600 });
    const fd = fs.openSync(tmp, "r");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
  }

  private all(): Record<string, string[]> {
    try {
      return JSON.parse(fs.readFileSync(this.file, "utf8")) as Record<string, string[]>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new Error(`${this.file} is not the JSON Tally writes there (${(error as Error).message}); move it aside`);
    }
  }
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}
