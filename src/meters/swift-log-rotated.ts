// Finds the file a follower was reading at a path once another one is there: logrotate renames it (proxy.log.1,
// proxy.log-20261206) and may compress it later (.gz), or copies it and truncates the original (copytruncate).

import { createHash, type Hash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { createGunzip } from "node:zlib";
import type { FollowedFile } from "./swift-log-positions.js";

const PIECE = 64 * 1024;

/** `dev:ino` of an open file. */
export function identityOf(fd: number): string {
  const stat = fs.fstatSync(fd, { bigint: true });
  return `${stat.dev}:${stat.ino}`;
}

/** SHA-256 of the first `bytes` bytes of an open plain file, or null when it has fewer. */
export function sha256OfFirstBytes(fd: number, bytes: number): string | null {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(Math.min(bytes, PIECE));
  let got = 0;
  while (got < bytes) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, bytes - got), got);
    if (n === 0) return null;
    hash.update(buffer.subarray(0, n));
    got += n;
  }
  return hash.digest("hex");
}

/** Whether an open plain file is the one followed before: its log's first bytes when they are known, else its identity. */
export function isFollowedFile(fd: number, followed: FollowedFile): boolean {
  if (followed.log === null) return identityOf(fd) === followed.identity;
  return sha256OfFirstBytes(fd, followed.log.headBytes) === followed.log.headSha256;
}

/** The names rotations of `file` get, as a pattern for messages. */
export function rotatedNames(file: string): string {
  const base = path.basename(file);
  return `${base}.* or ${base}-*`;
}

/**
 * The rotated file, beside `file`, that holds the log followed before, or null when none does. A file whose first
 * access line was read is known by its first bytes (gzipped or not); one read before that only by its identity.
 */
export async function findRotated(file: string, followed: FollowedFile): Promise<string | null> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return null;
  }
  const candidates: { file: string; gz: boolean; mtime: number }[] = [];
  for (const name of names) {
    if (!name.startsWith(`${base}.`) && !name.startsWith(`${base}-`)) continue;
    const candidate = path.join(dir, name);
    const stat = statOrNull(candidate);
    if (stat?.isFile()) candidates.push({ file: candidate, gz: name.endsWith(".gz"), mtime: stat.mtimeMs });
  }
  // Plain files first (a copy being compressed is incomplete until the plain one is removed), the newest first.
  candidates.sort((a, b) => Number(a.gz) - Number(b.gz) || b.mtime - a.mtime);
  for (const candidate of candidates) {
    if (await holdsFollowedLog(candidate.file, followed)) return candidate.file;
  }
  return null;
}

/**
 * The rotations of `file` newer than `rotated` (one of them), oldest first: with logrotate's names, `NAME.N` with a
 * smaller N, or `NAME-SUFFIX` (dateext) with a greater suffix, gzipped or not. They were written after it, while the
 * importer was stopped. A rotation there both plain and gzipped (being compressed) is named once, plain.
 */
export function newerRotations(file: string, rotated: string): string[] {
  const base = path.basename(file);
  const found = rotationAge(base, path.basename(rotated));
  if (found === null || path.dirname(rotated) !== path.dirname(file)) return [];
  const newer = new Map<string, { file: string; age: number | string }>();
  for (const name of fs.readdirSync(path.dirname(file))) {
    const age = rotationAge(base, name);
    if (age === null || typeof age !== typeof found) continue;
    const isNewer = typeof age === "number" ? age < (found as number) : age > (found as string);
    const key = String(age);
    if (!isNewer || (newer.has(key) && name.endsWith(".gz"))) continue;
    if (statOrNull(path.join(path.dirname(file), name))?.isFile()) {
      newer.set(key, { file: path.join(path.dirname(file), name), age });
    }
  }
  return [...newer.values()]
    .sort((a, b) => (typeof a.age === "number" ? (b.age as number) - a.age : a.age < b.age ? -1 : 1))
    .map((r) => r.file);
}

/** `NAME.N[.gz]` → N (the greater, the older); `NAME-SUFFIX[.gz]` → SUFFIX (the greater, the newer); else null. */
function rotationAge(base: string, name: string): number | string | null {
  if (!name.startsWith(base)) return null;
  const rest = name.slice(base.length).replace(/\.gz$/, "");
  const numbered = /^\.(\d+)$/.exec(rest);
  if (numbered) return Number(numbered[1]);
  return rest.length > 1 && rest.startsWith("-") ? rest.slice(1) : null;
}

async function holdsFollowedLog(file: string, followed: FollowedFile): Promise<boolean> {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    return false;
  }
  try {
    const magic = Buffer.alloc(2);
    const gzipped = fs.readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    if (!gzipped) return isFollowedFile(fd, followed);
  } finally {
    fs.closeSync(fd);
  }
  return followed.log !== null && (await gunzippedHeadSha256(file, followed.log.headBytes)) === followed.log.headSha256;
}

/** SHA-256 of the first `bytes` bytes of a gzipped file once decompressed, or null when it has fewer or is corrupt. */
async function gunzippedHeadSha256(file: string, bytes: number): Promise<string | null> {
  const source = fs.createReadStream(file, { highWaterMark: PIECE });
  const gunzip = createGunzip();
  source.on("error", (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  const hash: Hash = createHash("sha256");
  let need = bytes;
  try {
    for await (const chunk of gunzip) {
      const piece = (chunk as Buffer).subarray(0, need);
      hash.update(piece);
      need -= piece.length;
      if (need === 0) break;
    }
  } catch {
    return null;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return need === 0 ? hash.digest("hex") : null;
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}
