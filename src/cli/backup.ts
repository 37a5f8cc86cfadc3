// tally backup DIR and tally restore DIR: a consistent copy of a SQLite store, taken through the running server
// (--url) or from a store no server holds, and put back into a data directory. PostgreSQL has pg_dump.

import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ADMIN_TOKEN_FILE } from "../auth/first-admin-token.js";
import { openBackend, sqliteStoreFiles } from "../backend/open-backend.js";
import { prepareBackupDir, restoreBackup, writeBackup } from "../backup/backup-dir.js";
import type { BackupFile } from "../backup/store-backup.js";
import { loadConfig } from "../config/config.js";
import { AppError } from "../domain/errors.js";
import { type RemoteFlags, remote, withBackend } from "./remote.js";

export async function backupCommand(dir: string, flags: RemoteFlags): Promise<number> {
  const target = path.resolve(dir);
  prepareBackupDir(target);
  const started = performance.now();
  const manifest =
    flags.url === undefined
      ? await withBackend(flags, (backend) =>
          writeBackup(target, backend.backup.files(), (name, to) => backend.backup.copy(name, to)),
        )
      : await remoteBackup(target, flags);
  const bytes = manifest.files.reduce((n, f) => n + fs.statSync(path.join(target, f.name)).size, 0);
  process.stdout.write(
    `backed up ${manifest.files.map((f) => f.name).join(" and ")} (${bytes} bytes) to ${target} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return 0;
}

async function remoteBackup(dir: string, flags: RemoteFlags) {
  const { files } = await remote<{ files: BackupFile[] }>(flags, "GET", "/v1/backup");
  return writeBackup(dir, files, async (name, to) => {
    const secret = fs
      .readFileSync(flags.tokenFile ?? path.join(loadConfig(flags).data, ADMIN_TOKEN_FILE), "utf8")
      .trim();
    const url = new URL(`/v1/backup/${encodeURIComponent(name)}`, flags.url);
    const response = await fetch(url, { headers: { "X-Auth-Token": secret } }).catch((error: Error) => {
      throw new AppError("UNAVAILABLE", `cannot reach ${url.origin}: ${error.message}`);
    });
    if (!response.ok || response.body === null) {
      const answer = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
      throw new AppError("UNAVAILABLE", `${url.origin}: ${answer?.error?.message ?? `HTTP ${response.status}`}`);
    }
    await pipeline(
      Readable.fromWeb(response.body as import("node:stream/web").ReadableStream),
      fs.createWriteStream(to, { mode: 0o600 }),
    );
    const expected = Number(response.headers.get("content-length"));
    if (Number.isFinite(expected) && fs.statSync(to).size !== expected)
      throw new AppError("UNAVAILABLE", `${name} arrived cut short (${fs.statSync(to).size} of ${expected} bytes)`);
  });
}

export async function restoreCommand(dir: string, flags: { data?: string; store?: string }): Promise<number> {
  const config = loadConfig(flags);
  const target = sqliteStoreFiles(config);
  const manifest = restoreBackup(path.resolve(dir), target);
  // Opened once, as tally serve would: it checks the copy and brings the derived database up to date.
  const backend = await openBackend(config);
  try {
    const servers = await backend.usage.servers();
    const tokens = await backend.tokens.list();
    process.stdout.write(
      `restored the backup of ${manifest.created} to ${target.log}: ${servers.length} servers, ` +
        `${servers.reduce((n, s) => n + s.events, 0)} events, ${tokens.length} tokens\n`,
    );
  } finally {
    await backend.close();
  }
  return 0;
}
