// Who may call what: every route belongs to one access class, and each class names the roles it admits.
// A route not listed here gets the strictest default for its method, so a new route is never open by accident.

import type { Principal, Role } from "./principal.js";

/**
 * - `any`: every valid token (health checks, the API description); a read, so the loopback exception applies.
 * - `holder`: a request whose credential is in it (an invitation code, a feed capability): no token is needed,
 *   and a token that is presented must be valid, as everywhere.
 * - `read`: usage of every account: admin and read.
 * - `account-read`: usage of one account; account tokens too, and the route (or the account check below) keeps
 *   them to their own account.
 * - `ingest`: writing events: admin and ingest (the route keeps ingest tokens to their servers).
 * - `metrics`: the Prometheus metrics: admin and read, and metrics tokens, which may call nothing else.
 * - `admin`: everything else that changes or reveals configuration, like tokens.
 */
export type Access = "any" | "holder" | "read" | "account-read" | "ingest" | "metrics" | "admin";

export interface AccessRule {
  /** Omitted: every method. HEAD is treated as GET. */
  readonly method?: string;
  readonly path: string | RegExp;
  readonly access: Access;
}

export const ACCESS_RULES: readonly AccessRule[] = [
  { method: "GET", path: "/healthz", access: "any" },
  { method: "GET", path: "/openapi.json", access: "any" },
  { method: "POST", path: "/v1/events", access: "ingest" },
  // Counts of every account and server together: what a read token sees anyway, and all a metrics token sees.
  { method: "GET", path: "/metrics", access: "metrics" },
  // Imported StAR records become events of their storage systems: the route keeps ingest tokens to their servers.
  { method: "POST", path: "/v1/records/star", access: "ingest" },
  { path: /^\/v1\/tokens(\/.*)?$/, access: "admin" },
  // A copy of the store holds every event and every token's hash.
  { method: "GET", path: /^\/v1\/backup(\/.*)?$/, access: "admin" },
  { method: "GET", path: /^\/(io_sum|io_detail|space_detail)?$/, access: "account-read" },
  // The usage table shows an account token its own row only; the account page checks the account in its path.
  { method: "GET", path: "/usage", access: "account-read" },
  { method: "GET", path: /^\/usage\/accounts\/.+$/, access: "account-read" },
  // An account token may read its own petname (the route checks the account); changing petnames is for admins.
  { method: "GET", path: /^\/v1\/petnames\/.+$/, access: "account-read" },
  { method: "POST", path: "/v1/invitations/accept", access: "holder" },
  // A feed's capability is in its URL; sharing, listing and revoking feeds, and subscribing, are for admins.
  { method: "GET", path: /^\/v1\/feed\/[^/]+$/, access: "holder" },
  { path: /^\/v1\/(feeds|subscriptions)(\/.*)?$/, access: "admin" },
  // Charging: the policy, agreements and groups are changed by admins; an account token reads its own bills, balance
  // and group (the routes check the account in the path).
  { method: "GET", path: "/v1/policy", access: "read" },
  { method: "PUT", path: "/v1/policy", access: "admin" },
  { method: "PUT", path: /^\/v1\/(accounts|groups)\/[^/]+\/(agreement|group)$/, access: "admin" },
  { method: "GET", path: /^\/v1\/accounts\/[^/]+\/(bills\/[^/]+(\/explain)?|balance|group)$/, access: "account-read" },
  { method: "POST", path: /^\/v1\/(accounts\/[^/]+\/)?bills\/[^/]+\/close$/, access: "admin" },
  // The bill pages check the account in their path as the account page does.
  { method: "GET", path: /^\/usage\/(bills|explain)\/[^/]+\/.+$/, access: "account-read" },
];

// A metrics token is in no class but metrics, not even `any`: a leaked scraper credential reveals nothing else.
const ADMITS: Record<Access, readonly Role[]> = {
  any: ["admin", "ingest", "read", "account"],
  holder: ["admin", "ingest", "read", "account"],
  read: ["admin", "read"],
  "account-read": ["admin", "read", "account"],
  ingest: ["admin", "ingest"],
  metrics: ["admin", "read", "metrics"],
  admin: ["admin"],
};

/** Classes a request without a token may use under the loopback exception: reads only. */
const LOCAL: ReadonlySet<Access> = new Set(["any", "read", "account-read", "metrics"]);

export function accessFor(method: string, path: string, rules: readonly AccessRule[] = ACCESS_RULES): Access {
  const m = method === "HEAD" ? "GET" : method;
  for (const rule of rules) {
    if (rule.method !== undefined && rule.method !== m) continue;
    if (typeof rule.path === "string" ? rule.path === path : rule.path.test(path)) return rule.access;
  }
  return m === "GET" ? "read" : "admin";
}

export function admits(access: Access, principal: Principal): boolean {
  if (principal.role === "local") return LOCAL.has(access);
  return ADMITS[access].includes(principal.role);
}

export function allowsLocal(access: Access): boolean {
  return LOCAL.has(access);
}
