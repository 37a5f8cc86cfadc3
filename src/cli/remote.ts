// Shared by the admin commands (token, petname, invite): open the store directly, or go through a running
// Tally with --url and an admin token, since a SQLite store is opened by one process at a time.

import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ADMIN_TOKEN_FILE } from "../auth/first-admin-token.js";
import type { Backend } from "../backend/backend.js";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { AppError, type ErrorCode, HTTP_STATUS } from "../domain/errors.js";

export interface RemoteFlags {
  data?: string;
  store?: string;
  url?: string;
  tokenFile?: string;
}

/** Opens the backend for one piece of work; says to use --url when a running server holds it. */
export async function withBackend<T>(flags: RemoteFlags, work: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openBackend(loadConfig(flags)).catch((error: unknown) => {
    if (error instanceof AppError && error.code === "UNAVAILABLE" && /in use/.test(error.message)) {
      throw new AppError("UNAVAILABLE", `${error.message}; while it runs, pass --url to go through it`);
    }
    throw error;
  });
  try {
    return await work(backend);
  } finally {
    await backend.close();
  }
}

/** Calls a running Tally with an admin token read from --token-file (default: the data directory's admin-token). */
export async function remote<T>(flags: RemoteFlags, method: string, route: string, body?: unknown): Promise<T> {
  const file = flags.tokenFile ?? path.join(loadConfig(flags).data, ADMIN_TOKEN_FILE);
  let secret: string;
  try {
    secret = fs.readFileSync(file, "utf8").trim();
  } catch (error) {
    throw new AppError("UNAUTHORIZED", `cannot read the admin token from ${file}: ${(error as Error).message}`);
  }
  const url = new URL(route, flags.url);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: { "X-Auth-Token": secret, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new AppError("UNAVAILABLE", `cannot reach ${url.origin}: ${(error as Error).message}`);
  }
  const answer = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (!response.ok) {
    const given = answer?.error?.code;
    const code: ErrorCode = given !== undefined && given in HTTP_STATUS ? (given as ErrorCode) : "INTERNAL";
    throw new AppError(code, `${url.origin}: ${answer?.error?.message ?? `HTTP ${response.status}`}`);
  }
  return answer as T;
}

export function remoteOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", "go through a running Tally instead of opening the store (needed while it runs on SQLite)")
    .option("--token-file <file>", "with --url: file holding an admin token (default DATA/admin-token)");
}
