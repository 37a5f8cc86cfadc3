// Which account a request to an object store is for: the Swift account in its path, or the owner of the S3 access
// key that signed it. Requests neither names are counted under a configured account, never dropped.

import type { IncomingHttpHeaders } from "node:http";
import { validation } from "../domain/errors.js";
import { LIMITS } from "../domain/event.js";
import { nameTextProblem } from "../domain/text.js";

export interface AttributionOptions {
  /** The Swift reseller prefix that starts an account's path segment (AUTH_ in /v1/AUTH_x/…); "" takes any. */
  readonly resellerPrefix: string;
  /** S3 access key → account. */
  readonly s3Keys: ReadonlyMap<string, string>;
  /** Where requests go that name no account, or an account no event could carry. */
  readonly unattributed: string;
}

export type Attribute = (url: string, headers: IncomingHttpHeaders) => string;

export function attributor(options: AttributionOptions): Attribute {
  const { resellerPrefix, s3Keys, unattributed } = options;
  const byKey = (key: string | null) => (key === null ? unattributed : (s3Keys.get(key) ?? unattributed));
  return (url, headers) => {
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      const key = s3AccessKey(authorization);
      if (key !== undefined) return byKey(key);
    }
    const query = url.indexOf("?");
    if (query !== -1 && /[?&](X-Amz-Credential|AWSAccessKeyId)=/.test(url)) return byKey(presignedKey(url, query));
    const account = swiftAccount(url, resellerPrefix);
    return account === null ? unattributed : account;
  };
}

/**
 * The access key of an S3 Authorization header: Signature V4 `AWS4-HMAC-SHA256 Credential=KEY/date/…` or V2
 * `AWS KEY:signature`; null for either form without a key; undefined when the header is neither.
 */
export function s3AccessKey(authorization: string): string | null | undefined {
  if (authorization.startsWith("AWS4-")) {
    const match = /Credential=([^/,\s]+)\//.exec(authorization);
    return match?.[1] ?? null;
  }
  if (authorization.startsWith("AWS ")) {
    const colon = authorization.indexOf(":", 4);
    const key = authorization.slice(4, colon === -1 ? undefined : colon).trim();
    return key === "" ? null : key;
  }
  return undefined;
}

/** The key of a presigned URL: X-Amz-Credential=KEY/… (V4) or AWSAccessKeyId=KEY (V2). */
function presignedKey(url: string, query: number): string | null {
  const params = new URLSearchParams(url.slice(query + 1));
  const credential = params.get("X-Amz-Credential");
  if (credential !== null) {
    const slash = credential.indexOf("/");
    return slash > 0 ? credential.slice(0, slash) : null;
  }
  return params.get("AWSAccessKeyId") || null;
}

/** AUTH_x from /v1/AUTH_x or /v1/AUTH_x/container/object, percent-decoded; null when the path names none. */
export function swiftAccount(url: string, resellerPrefix: string): string | null {
  if (!url.startsWith("/v1/")) return null;
  let end = url.length;
  for (let i = 4; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x2f || c === 0x3f) {
      end = i;
      break;
    }
  }
  const segment = url.slice(4, end);
  let account: string;
  try {
    account = decodeURIComponent(segment);
  } catch {
    return null;
  }
  if (account.length <= resellerPrefix.length || !account.startsWith(resellerPrefix)) return null;
  return isAccountName(account) ? account : null;
}

/** Whether an event may carry this account; a name it could not carry would have its counts refused at ingest. */
export function isAccountName(account: string): boolean {
  return account !== "" && Buffer.byteLength(account) <= LIMITS.nameBytes && nameTextProblem(account) === null;
}

/**
 * A key → account file: one `KEY ACCOUNT` or `KEY,ACCOUNT` per line, `#` comments and blank lines skipped, or a JSON
 * object {"KEY": "ACCOUNT"}. A line it cannot read is an error naming it, and nothing is loaded.
 */
export function parseS3KeyFile(text: string, file: string): Map<string, string> {
  const keys = new Map<string, string>();
  const add = (key: string, account: string, where: string) => {
    if (key === "" || /\s/.test(key)) throw validation(`${file}: ${where}: the access key is empty or holds spaces`);
    if (!isAccountName(account)) {
      throw validation(`${file}: ${where}: "${account}" cannot be an account (empty, too long or control characters)`);
    }
    if (keys.has(key) && keys.get(key) !== account) {
      throw validation(`${file}: ${where}: key ${key} is given to two accounts`);
    }
    keys.set(key, account);
  };
  if (text.trimStart().startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw validation(`${file}: not JSON: ${(error as Error).message}`);
    }
    for (const [key, account] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof account !== "string") throw validation(`${file}: the account of key ${key} is not a string`);
      add(key, account, `key ${key}`);
    }
    return keys;
  }
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const match = /^(\S+?)\s*[,\s]\s*(.+)$/.exec(line);
    if (!match) throw validation(`${file}: line ${i + 1}: expected KEY ACCOUNT or KEY,ACCOUNT`);
    add(match[1] as string, (match[2] as string).trim(), `line ${i + 1}`);
  });
  return keys;
}
