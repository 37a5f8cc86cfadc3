// Who is asking: set on every request by the auth middleware, read by routes that filter what they show.

import { AppError } from "../domain/errors.js";

/** `metrics` may read /metrics and nothing else: a scraper's credential that reveals no account's usage. */
export type Role = "admin" | "ingest" | "read" | "account" | "metrics";

export interface Principal {
  /** "local" is a request without a token that the loopback exception lets read. */
  readonly role: Role | "local";
  readonly tokenId: string | null;
  /** For role "account": the one account it may read. */
  readonly account: string | null;
  /** For role "ingest": the servers it may write for; null means any. */
  readonly servers: readonly string[] | null;
}

/** Roles that may read usage; a role added later reads nothing until it is named here. */
const READERS: ReadonlySet<Principal["role"]> = new Set(["admin", "read", "account", "local"]);

export function canRead(principal: Principal): boolean {
  return READERS.has(principal.role);
}

/** Whether the principal may read this account's usage. */
export function canReadAccount(principal: Principal, account: string): boolean {
  if (principal.role === "account") return principal.account === account;
  return canRead(principal);
}

/** The only account the principal may read, or null when it may read all (or none: check canRead). */
export function accountScope(principal: Principal): string | null {
  return principal.role === "account" ? principal.account : null;
}

export function canIngestFor(principal: Principal, server: string): boolean {
  if (principal.role === "admin") return true;
  if (principal.role !== "ingest") return false;
  return principal.servers === null || principal.servers.includes(server);
}

/** A request without a token, let in by the loopback exception: it may read, never write. */
export const LOCAL_PRINCIPAL: Principal = { role: "local", tokenId: null, account: null, servers: null };

/** Throws FORBIDDEN unless the principal may read this account's usage. */
export function assertCanReadAccount(principal: Principal, account: string): void {
  if (!canReadAccount(principal, account)) {
    throw new AppError("FORBIDDEN", `this token may not read the usage of account ${JSON.stringify(account)}`);
  }
}

/** For ingest: refuses, event by event, what the principal may not send (an ingest token's other servers). */
export function serverGate(principal: Principal): (event: { readonly server: string }) => string | null {
  return (event) =>
    canIngestFor(principal, event.server)
      ? null
      : `this token may send events for server${principal.servers?.length === 1 ? "" : "s"} ${(principal.servers ?? []).join(", ")} only, not ${event.server}`;
}
