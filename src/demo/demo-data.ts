// Demo data lives in a directory of its own, marked as such: a demo never writes into real data, and a real
// `tally serve` never starts on demo data.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AppError } from "../domain/errors.js";

export const DEMO_MARKER = "DEMO";

/**
 * The directory for a demo: the one given (new, empty, or an earlier demo's), or a fresh one under the system's
 * temporary directory. Marked with a DEMO file.
 */
export function prepareDemoDir(given: string | undefined): { dir: string; fresh: boolean } {
  let dir: string;
  let fresh = false;
  if (given === undefined) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-demo-"));
    fresh = true;
  } else {
    dir = path.resolve(given);
    const entries = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
    if (entries.length > 0 && !entries.includes(DEMO_MARKER)) {
      throw new AppError(
        "VALIDATION",
        `${dir} is not empty and is not a demo directory: --demo never writes into real data; give a new or empty --data, or none`,
      );
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  fs.writeFileSync(
    path.join(dir, DEMO_MARKER),
    "This directory holds simulated data from `tally serve --demo`. It is not real usage.\n",
  );
  return { dir, fresh };
}

export function isDemoDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, DEMO_MARKER));
}

/** Refuses to serve demo data as if it were real. */
export function assertNotDemoDir(dir: string): void {
  if (isDemoDir(dir)) {
    throw new AppError(
      "VALIDATION",
      `${dir} holds demo data (it has a ${DEMO_MARKER} file): run \`tally serve --demo --data ${dir}\`, or use another --data`,
    );
  }
}
