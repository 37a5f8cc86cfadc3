// On first start (a token store with no token at all) Tally makes an admin token and leaves it in a file
// only its owner can read. The secret goes to that file and nowhere else: never to the log.

import fs from "node:fs";
import path from "node:path";
import { AppError } from "../domain/errors.js";
import { mintToken } from "./create-token.js";
import type { TokenStore } from "./token-store.js";

export const ADMIN_TOKEN_FILE = "admin-token";

/** Returns the file written, or null when the store already had tokens (another start, or another node, made it). */
export async function ensureFirstAdminToken(
  store: TokenStore,
  dataDir: string,
  now = Date.now(),
): Promise<string | null> {
  if ((await store.list()).length > 0) return null;
  const { stored, secret } = mintToken({ role: "admin", note: "first admin token, made on first start" }, now);
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Written before the token is stored, so a stored admin token always has its file; 0600 whatever the umask.
    const fd = fs.openSync(temp, "w", 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, `${secret}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw new AppError("UNAVAILABLE", `cannot write the first admin token to ${file}: ${(error as Error).message}`);
  }
  try {
    if (!(await store.insertIfEmpty(stored))) return null;
    fs.renameSync(temp, file);
    return file;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
