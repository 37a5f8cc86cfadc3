// Who is asking: set on every request by the auth middleware, read by routes that filter what they show.

export type Role = "admin" | "ingest" | "read" | "account";

export interface Principal {
  /** "local" is a request without a token that the loopback exception lets read. */
  readonly role: Role | "local";
  readonly tokenId: string | null;
  /** For role "account": the one account it may read. */
  readonly account: string | null;
  /** For role "ingest": the servers it may write for; null means any. */
  readonly servers: readonly string[] | null;
}

export function canRead(principal: Principal): boolean {
  return principal.role !== "ingest";
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
