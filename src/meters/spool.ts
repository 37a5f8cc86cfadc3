// A directory of batches waiting to be sent, kept on disk so that a crash or a stop loses none: each is written to a
// temporary file, synced, renamed into place and the directory synced, so a batch is either whole or absent.

import fs from "node:fs";
import path from "node:path";
import { AppError } from "../domain/errors.js";

const SUFFIX = ".ndjson";
const TEMP = ".tmp";

export class Spool {
  private constructor(readonly dir: string) {}

  /** Opens (making it if need be) a spool directory, and removes the temporary files a crash left half-written. */
  static open(dir: string): Spool {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.accessSync(dir, fs.constants.W_OK);
      for (const name of fs.readdirSync(dir)) if (name.endsWith(TEMP)) fs.rmSync(path.join(dir, name), { force: true });
    } catch (error) {
      throw new AppError("UNAVAILABLE", `cannot use the spool directory ${dir}: ${(error as Error).message}`);
    }
    return new Spool(dir);
  }

  /** Stores a batch durably under a name that sorts in the order batches were made. */
  put(name: string, bytes: Uint8Array): void {
    const file = path.join(this.dir, `${name}${SUFFIX}`);
    const temp = `${file}${TEMP}`;
    const fd = fs.openSync(temp, "w", 0o600);
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
    this.syncDir();
  }

  /** The names of the batches waiting, oldest first. */
  list(): string[] {
    return fs
      .readdirSync(this.dir)
      .filter((n) => n.endsWith(SUFFIX))
      .map((n) => n.slice(0, -SUFFIX.length))
      .sort();
  }

  read(name: string): Buffer {
    return fs.readFileSync(path.join(this.dir, `${name}${SUFFIX}`));
  }

  /** Forgets a batch once the receiver has committed it. */
  remove(name: string): void {
    fs.rmSync(path.join(this.dir, `${name}${SUFFIX}`), { force: true });
  }

  private syncDir(): void {
    const fd = fs.openSync(this.dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
