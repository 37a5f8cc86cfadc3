// Authentication and authorization for every route: who is asking (a token, or the loopback exception) and
// whether the route's access class admits them. Routes then narrow further (own account, own servers).

import type { Context, MiddlewareHandler } from "hono";
import { type Access, accessFor, admits, allowsLocal } from "../auth/access.js";
import { authenticate } from "../auth/authenticate.js";
import { isLoopbackHost } from "../auth/loopback.js";
import { LOCAL_PRINCIPAL, type Principal } from "../auth/principal.js";
import type { TokenStore } from "../auth/token-store.js";
import { AppError } from "../domain/errors.js";
import { headerText } from "../swift-stats/query.js";
import { parseQueryPairs } from "../swift-stats/query-string.js";

declare module "hono" {
  interface ContextVariableMap {
    principal: Principal;
  }
}

export interface AuthDeps {
  readonly tokens: TokenStore;
  /** The loopback exception: reads without a token. Only allowed when Tally listens on loopback alone. */
  readonly localReads: boolean;
}

/** Query parameters that name the accounts a request is about, by the conventions of our routes. */
const ACCOUNT_PARAMS = new Set(["account", "account_id"]);
const ACCOUNT_LIST_PARAMS = new Set(["accounts"]);

export function authMiddleware(deps: AuthDeps): MiddlewareHandler {
  return async (c, next) => {
    try {
      await check(c, deps);
    } catch (error) {
      if (error instanceof AppError && error.code === "UNAUTHORIZED")
        c.header("WWW-Authenticate", 'Bearer realm="tally"');
      throw error;
    }
    await next();
  };
}

async function check(c: Context, deps: AuthDeps): Promise<void> {
  const access = accessFor(c.req.method, c.req.path);
  const secret = presentedSecret(c.req.header("x-auth-token"), c.req.header("authorization"));
  let principal: Principal;
  if (secret !== null) {
    // A token that is presented is checked, even where none is needed: a bad token is never downgraded.
    principal = await authenticate(deps.tokens, secret);
  } else if (access === "holder") {
    // The request carries its own credential (an invitation code), which the route checks: no one is assumed.
    return;
  } else if (deps.localReads && allowsLocal(access) && isLoopbackHost(new URL(c.req.url).hostname)) {
    // The Host check keeps a web page from reaching here through DNS rebinding.
    principal = LOCAL_PRINCIPAL;
  } else {
    throw unauthorized("a token is required: send it as X-Auth-Token or Authorization: Bearer");
  }
  if (!admits(access, principal)) throw forbidden(principal, access, c.req.method, c.req.path);
  if (principal.role === "account") checkNamedAccounts(principal, c.req.url, c.req.header("x-account-id"));
  c.set("principal", principal);
}

function presentedSecret(xAuthToken: string | undefined, authorization: string | undefined): string | null {
  let bearer: string | undefined;
  if (authorization !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!m) throw unauthorized("the Authorization header must be Bearer followed by a token");
    bearer = m[1];
  }
  const token = xAuthToken?.trim();
  if (token !== undefined && bearer !== undefined && token !== bearer) {
    throw unauthorized("X-Auth-Token and Authorization carry different tokens");
  }
  return token ?? bearer ?? null;
}

/** An account token is refused outright when the request names another account, whatever the route does next. */
function checkNamedAccounts(principal: Principal, url: string, header: string | undefined): void {
  const named: string[] = [];
  for (const [k, v] of parseQueryPairs(url) ?? []) {
    if (ACCOUNT_PARAMS.has(k)) named.push(v.trim());
    else if (ACCOUNT_LIST_PARAMS.has(k))
      named.push(
        ...v
          .split(",")
          .map((a) => a.trim())
          .filter((a) => a !== ""),
      );
  }
  if (header !== undefined) named.push(headerText(header).trim());
  const other = named.find((a) => a !== principal.account);
  if (other !== undefined) {
    throw new AppError("FORBIDDEN", `this token may not read the usage of account ${JSON.stringify(other)}`);
  }
}

function unauthorized(message: string): AppError {
  return new AppError("UNAUTHORIZED", message);
}

const NEEDS: Record<Access, string> = {
  any: "a token",
  holder: "a valid token or none",
  read: "an admin or read token",
  "account-read": "an admin, read or account token",
  ingest: "an admin or ingest token",
  metrics: "an admin, read or metrics token",
  admin: "an admin token",
};

function forbidden(principal: Principal, access: Access, method: string, path: string): AppError {
  const who = principal.role === "local" ? "a request without a token" : `a token of role ${principal.role}`;
  return new AppError("FORBIDDEN", `${who} may not ${method} ${path}: it needs ${NEEDS[access]}`);
}
