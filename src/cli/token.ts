// tally token create|list|revoke: manage API tokens, in the store directly or through a running server.
//
// The SQLite store is opened by one process at a time, so while `tally serve` runs on the same data directory these
// go through the server's /v1/tokens with an admin token: the server found by its note, or the one --url names.

import { createToken } from "../auth/create-token.js";
import type { Role } from "../auth/principal.js";
import { revokeToken } from "../auth/revoke-token.js";
import { isRole, ROLES, tokenJson } from "../auth/token.js";
import type { TokenStore } from "../auth/token-store.js";
import { validation } from "../domain/errors.js";
import { remote, throughRunningServer, withBackend } from "./remote.js";

export interface TokenFlags {
  data?: string;
  store?: string;
  url?: string;
  tokenFile?: string;
  json?: boolean;
}

export interface CreateFlags extends TokenFlags {
  role: string;
  account?: string;
  server?: string[];
  note?: string;
}

type TokenJson = ReturnType<typeof tokenJson>;

export async function tokenCreateCommand(given: CreateFlags): Promise<number> {
  const flags = throughRunningServer(given);
  if (!isRole(flags.role)) throw validation(`--role must be one of ${ROLES.join(", ")}`);
  const spec = {
    role: flags.role as Role,
    account: flags.account ?? null,
    servers: flags.server && flags.server.length > 0 ? flags.server : null,
    note: flags.note ?? "",
  };
  const { token, secret } = flags.url
    ? await remote<{ token: TokenJson; secret: string }>(flags, "POST", "/v1/tokens", spec)
    : await local(flags, async (store) => {
        const created = await createToken(store, spec);
        return { token: tokenJson(created.token), secret: created.secret };
      });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ token, secret }, null, 2)}\n`);
  } else {
    // The secret alone on standard output (so `> file` keeps just it); the rest on standard error.
    process.stderr.write(`created token ${token.id} (${describe(token)}); its secret is shown this once:\n`);
    process.stdout.write(`${secret}\n`);
  }
  return 0;
}

export async function tokenListCommand(given: TokenFlags): Promise<number> {
  const flags = throughRunningServer(given);
  const tokens = flags.url
    ? (await remote<{ tokens: TokenJson[] }>(flags, "GET", "/v1/tokens")).tokens
    : await local(flags, async (store) => (await store.list()).map(tokenJson));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ tokens }, null, 2)}\n`);
    return 0;
  }
  const rows = [["ID", "ROLE", "ACCOUNT", "SERVERS", "CREATED", "REVOKED", "NOTE"]];
  for (const t of tokens) {
    rows.push([
      t.id,
      t.role,
      t.account ?? "-",
      t.servers?.join(",") ?? "-",
      t.createdAt.slice(0, 19).replace("T", " "),
      t.revokedAt?.slice(0, 19).replace("T", " ") ?? "-",
      t.note,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd()}\n`,
    );
  return 0;
}

export async function tokenRevokeCommand(id: string, given: TokenFlags): Promise<number> {
  const flags = throughRunningServer(given);
  const token = flags.url
    ? (await remote<{ token: TokenJson }>(flags, "DELETE", `/v1/tokens/${encodeURIComponent(id)}`)).token
    : await local(flags, async (store) => tokenJson(await revokeToken(store, id)));
  process.stdout.write(
    flags.json ? `${JSON.stringify({ token }, null, 2)}\n` : `revoked ${token.id} (${describe(token)})\n`,
  );
  return 0;
}

function describe(t: TokenJson): string {
  const parts = [`role ${t.role}`];
  if (t.account !== null) parts.push(`account ${t.account}`);
  if (t.servers !== null) parts.push(`servers ${t.servers.join(", ")}`);
  return parts.join(", ");
}

async function local<T>(flags: TokenFlags, work: (store: TokenStore) => Promise<T>): Promise<T> {
  return withBackend(flags, (backend) => work(backend.tokens));
}
