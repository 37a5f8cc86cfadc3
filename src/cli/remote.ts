// Shared by the commands that need the store (token, petname, invite, ingest, meter, records, import star): open it directly, or go
// through a running Tally with an admin token, since a SQLite store is opened by one process at a time. The running
// server is found by the note it keeps in its data directory, or named with --url.

import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ADMIN_TOKEN_FILE } from "../auth/first-admin-token.js";
import type { Backend, BackendOptions } from "../backend/backend.js";
import { openBackend } from "../backend/open-backend.js";
import { loadConfig } from "../config/config.js";
import { AppError, type ErrorCode, HTTP_STATUS } from "../domain/errors.js";
import { findRunningServer, SERVER_NOTE_FILE, type ServerNote } from "./server-note.js";

export interface RemoteFlags {
  data?: string;
  store?: string;
  url?: string;
  tokenFile?: string;
  /** Set by throughRunningServer when the url came from the server's note rather than --url. */
  found?: ServerNote;
}

/** The flags with url set to the running server's when no --url was given and a `tally serve` holds the store. */
export function throughRunningServer<F extends RemoteFlags>(flags: F): F {
  if (flags.url !== undefined) return flags;
  const note = findRunningServer(loadConfig(flags));
  return note === null ? flags : { ...flags, url: note.url, found: note };
}

/** Opens the store the flags name; says to use --url when a running server holds it. */
export function openStoreHere(flags: RemoteFlags, options: BackendOptions = {}): Promise<Backend> {
  return openBackend(loadConfig(flags), options).catch((error: unknown) => {
    if (error instanceof AppError && error.code === "UNAVAILABLE" && /in use/.test(error.message)) {
      throw new AppError(
        "UNAVAILABLE",
        `${error.message}, and no running tally serve noted its address in the data directory; pass --url to go through the server that holds it`,
      );
    }
    throw error;
  });
}

/** Opens the backend for one piece of work; says to use --url when a running server holds it. */
export async function withBackend<T>(flags: RemoteFlags, work: (backend: Backend) => Promise<T>): Promise<T> {
  const backend = await openStoreHere(flags);
  try {
    return await work(backend);
  } finally {
    await backend.close();
  }
}

/** A body sent as it is, not as JSON. */
export interface RawBody {
  readonly bytes: Uint8Array;
  readonly contentType: string;
}

/** Calls a running Tally with an admin token read from --token-file (default: the data directory's admin-token). */
export async function remote<T>(
  flags: RemoteFlags,
  method: string,
  route: string,
  body?: unknown,
  raw?: RawBody,
): Promise<T> {
  const response = await remoteResponse(flags, method, route, body, raw);
  return (await response.json().catch(() => null)) as T;
}

/** The same call, answering the response itself, once it is known to be a success, for a body read as a stream. */
export async function remoteResponse(
  flags: RemoteFlags,
  method: string,
  route: string,
  body?: unknown,
  raw?: RawBody,
): Promise<Response> {
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
    const sent =
      raw !== undefined
        ? { type: raw.contentType, bytes: raw.bytes }
        : body === undefined
          ? null
          : { type: "application/json", bytes: JSON.stringify(body) };
    response = await fetch(url, {
      method,
      headers: { "X-Auth-Token": secret, ...(sent === null ? {} : { "Content-Type": sent.type }) },
      ...(sent === null ? {} : { body: sent.bytes }),
    });
  } catch (error) {
    const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    const noted = flags.found
      ? ` (the tally serve with pid ${flags.found.pid} noted it in ${path.join(loadConfig(flags).data, SERVER_NOTE_FILE)})`
      : "";
    throw new AppError("UNAVAILABLE", `cannot reach ${url.origin}${noted}: ${reason}`);
  }
  if (!response.ok) {
    const answer = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    const given = answer?.error?.code;
    const code: ErrorCode = given !== undefined && given in HTTP_STATUS ? (given as ErrorCode) : "INTERNAL";
    throw new AppError(code, `${url.origin}: ${answer?.error?.message ?? `HTTP ${response.status}`}`);
  }
  return response;
}

export function remoteOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", "go through this Tally (default: the one running on the data directory, if any)")
    .option("--token-file <file>", "file holding an admin token for the server (default DATA/admin-token)");
}
