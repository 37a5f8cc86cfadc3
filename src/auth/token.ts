// API tokens: the record kept about each one, how secrets are made and hashed, and the rules a new token obeys.

import { createHash, randomBytes } from "node:crypto";
import { validation } from "../domain/errors.js";
import type { Principal, Role } from "./principal.js";

export const ROLES: readonly Role[] = ["admin", "ingest", "read", "account", "metrics"];

/** Every secret starts with this, so a leaked one is easy to recognise (in logs, in code, by secret scanners). */
export const SECRET_PREFIX = "tly_";
/** 32 random bytes: 256 bits, far beyond guessing, and enough that a plain SHA-256 is a safe hash to store. */
const SECRET_BYTES = 32;
const ID_BYTES = 8;
const MAX_NAME_BYTES = 256;
const MAX_NOTE_CHARS = 1000;
const MAX_SERVERS = 1000;

/** What is kept about a token: everything but the secret, which is kept only as its SHA-256. */
export interface TokenRecord {
  readonly id: string;
  readonly role: Role;
  /** For role "account": the one account it may read. */
  readonly account: string | null;
  /** For role "ingest": the servers it may write for; null means any server. */
  readonly servers: readonly string[] | null;
  readonly note: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

/** A token as created, before it has an id or a time. */
export interface TokenSpec {
  readonly role: Role;
  readonly account?: string | null | undefined;
  readonly servers?: readonly string[] | null | undefined;
  readonly note?: string | null | undefined;
}

export type NormalizedSpec = Pick<TokenRecord, "role" | "account" | "servers" | "note">;

export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString("base64url");
}

export function newTokenId(): string {
  return `tok_${randomBytes(ID_BYTES).toString("hex")}`;
}

/** The SHA-256 of the secret as hex: all the stores keep, and what a presented token is looked up by. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/**
 * Checks a token spec and returns it in its stored shape. An account belongs to role account only, servers to
 * role ingest only: a read token with an account would look limited and not be.
 */
export function normalizeSpec(spec: TokenSpec): NormalizedSpec {
  if (!isRole(spec.role)) throw validation(`role must be one of ${ROLES.join(", ")}`);
  const account = spec.account ?? null;
  const servers = spec.servers && spec.servers.length > 0 ? [...new Set(spec.servers)].sort() : null;
  if (spec.role === "account") {
    if (account === null) throw validation("account is required for a token of role account");
    checkName("account", account);
  } else if (account !== null) {
    throw validation(`account applies to role account only, not ${spec.role}`);
  }
  if (servers !== null) {
    if (spec.role !== "ingest") throw validation(`server applies to role ingest only, not ${spec.role}`);
    if (servers.length > MAX_SERVERS) throw validation(`server names at most ${MAX_SERVERS} servers`);
    for (const s of servers) checkName("server", s);
  }
  const note = spec.note ?? "";
  if (note.length > MAX_NOTE_CHARS) throw validation(`note is longer than ${MAX_NOTE_CHARS} characters`);
  return { role: spec.role, account, servers, note };
}

function checkName(field: string, value: string): void {
  if (value === "") throw validation(`${field} must not be empty`);
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) throw validation(`${field} is longer than ${MAX_NAME_BYTES} bytes`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
  if (/[\u0000-\u001f\u007f]/.test(value)) throw validation(`${field} must not contain control characters`);
}

export function principalOf(token: TokenRecord): Principal {
  return { role: token.role, tokenId: token.id, account: token.account, servers: token.servers };
}

/** The public face of a token, for the API and the CLI: never the secret or its hash. */
export function tokenJson(token: TokenRecord) {
  return {
    id: token.id,
    role: token.role,
    account: token.account,
    servers: token.servers,
    note: token.note,
    createdAt: new Date(token.createdAt).toISOString(),
    revokedAt: token.revokedAt === null ? null : new Date(token.revokedAt).toISOString(),
  };
}
