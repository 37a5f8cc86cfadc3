// Petnames: untrusted human names for accounts. The rules for what a name may be, and the use cases that set them.

import { createHash, randomBytes } from "node:crypto";
import { AppError, validation } from "../domain/errors.js";
import { LIMITS } from "../domain/event.js";
import { nameTextProblem } from "../domain/text.js";
import type { Petname, PetnameStore } from "./petname-store.js";

/** Characters, not bytes: a name is for people to read, and this keeps table cells and CSV lines sane. */
export const MAX_PETNAME_LENGTH = 100;
/** Accepted from `tally petname import` and the CLI in one go. */
export const MAX_IMPORT = 1_000_000;
export const DEFAULT_INVITATION_TTL_MS = 7 * 24 * 3_600_000;

/** The name as stored (trimmed), or a VALIDATION error saying what is wrong. */
export function validatePetname(raw: unknown, where = "petname"): string {
  if (typeof raw !== "string") throw validation(`${where} must be a string`);
  const name = raw.trim();
  if (name.length === 0) throw validation(`${where} is empty`);
  if ([...name].length > MAX_PETNAME_LENGTH)
    throw validation(`${where} is longer than ${MAX_PETNAME_LENGTH} characters`);
  const problem = nameTextProblem(name);
  if (problem !== null) throw validation(`${where} ${problem}`);
  return name;
}

/** An account id as events carry it: a non-empty string of at most 256 bytes. */
export function validateAccount(raw: unknown, where = "account"): string {
  if (typeof raw !== "string" || raw.length === 0) throw validation(`${where} must be a non-empty string`);
  if (Buffer.byteLength(raw) > LIMITS.nameBytes) throw validation(`${where} is longer than ${LIMITS.nameBytes} bytes`);
  const problem = nameTextProblem(raw);
  if (problem !== null) throw validation(`${where} ${problem}`);
  return raw;
}

export async function setPetname(store: PetnameStore, account: string, name: unknown): Promise<Petname> {
  const petname = { account: validateAccount(account), name: validatePetname(name) };
  await store.set([petname]);
  return petname;
}

export async function removePetname(store: PetnameStore, account: string): Promise<void> {
  if (!(await store.remove(validateAccount(account)))) {
    throw new AppError("NOT_FOUND", `account "${account.slice(0, 80)}" has no petname`);
  }
}

/**
 * Reads petnames from CSV (`account,name` per line, an optional `account,name` header, RFC 4180 quoting) or a
 * JSON object {"account": "name"}. Every entry is checked before any is stored: a bad line stores nothing.
 */
export function parsePetnameFile(text: string): Petname[] {
  const body = text.replace(/^\uFEFF/, "");
  const entries: [string, unknown, string][] = [];
  if (body.trimStart().startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (error) {
      throw validation(`the file is not valid JSON: ${(error as Error).message}`);
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
      throw validation('a JSON petname file must be an object of "account": "name"');
    }
    for (const [account, name] of Object.entries(json)) entries.push([account, name, `"${account.slice(0, 40)}"`]);
  } else {
    const records = parseCsv(body);
    records.forEach((fields, i) => {
      const line = i + 1;
      if (fields.length === 1 && fields[0] === "") return;
      if (i === 0 && fields[0]?.trim().toLowerCase() === "account" && fields[1]?.trim().toLowerCase() === "name")
        return;
      if (fields.length !== 2)
        throw validation(`line ${line}: expected two fields, account,name; found ${fields.length}`);
      entries.push([fields[0] as string, fields[1], `line ${line}`]);
    });
  }
  if (entries.length > MAX_IMPORT) throw validation(`the file has more than ${MAX_IMPORT} petnames`);
  return entries.map(([account, name, where]) => ({
    account: validateAccount(account, `${where}: account`),
    name: validatePetname(name, `${where}: name`),
  }));
}

export async function importPetnames(store: PetnameStore, text: string): Promise<number> {
  const petnames = parsePetnameFile(text);
  await store.set(petnames);
  return petnames.length;
}

/** RFC 4180 records: fields split on commas, "quoted" fields may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"' && field === "") {
      quoted = true;
    } else if (ch === ",") {
      fields.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      fields.push(field);
      records.push(fields);
      fields = [];
      field = "";
    } else {
      field += ch;
    }
  }
  if (quoted) throw validation("the CSV ends inside a quoted field");
  if (field !== "" || fields.length > 0) {
    fields.push(field);
    records.push(fields);
  }
  return records;
}

export interface CreatedInvitation {
  /** The one-time code: shown once, stored only as a hash. */
  readonly code: string;
  readonly petname: string;
  /** The existing account it is for, or null: accepting it names a new account. */
  readonly account: string | null;
  readonly expiresAt: number;
}

export async function createInvitation(
  store: PetnameStore,
  petname: unknown,
  options: { account?: unknown; ttlMs?: number; now?: number } = {},
): Promise<CreatedInvitation> {
  const name = validatePetname(petname);
  const account = options.account === undefined || options.account === null ? null : validateAccount(options.account);
  const ttl = options.ttlMs ?? DEFAULT_INVITATION_TTL_MS;
  if (!Number.isSafeInteger(ttl) || ttl < 1000 || ttl > 366 * 24 * 3_600_000) {
    throw validation("an invitation must expire between a second and a year from now");
  }
  const now = options.now ?? Date.now();
  const code = `tally-inv-${randomBytes(20).toString("base64url")}`;
  await store.createInvitation({
    codeHash: hashCode(code),
    petname: name,
    account,
    createdAt: now,
    expiresAt: now + ttl,
  });
  return { code, petname: name, account, expiresAt: now + ttl };
}

/** A fresh account id, for an invitation that names no existing account. */
export function newAccountId(): string {
  return `acct-${randomBytes(10).toString("hex")}`;
}

export function hashCode(code: string): string {
  return createHash("sha256").update(code).digest("hex");
}

/** Durations such as 7d, 12h, 30m, 45s or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,9})\s*([smhdw]?)$/.exec(text.trim());
  if (!m) throw validation(`"${text.slice(0, 40)}" is not a duration like 7d, 12h, 30m or 90s`);
  const unit = { "": 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as string] as number;
  return Number(m[1]) * unit;
}
