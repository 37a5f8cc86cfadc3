import { describe, expect, it } from "vitest";
import { accessFor, admits } from "./access.js";
import { LOCAL_PRINCIPAL, type Principal, type Role } from "./principal.js";

const as = (role: Role): Principal => ({ role, tokenId: "t", account: role === "account" ? "a" : null, servers: null });

describe("accessFor", () => {
  it.each([
    ["GET", "/healthz", "any"],
    ["HEAD", "/openapi.json", "any"],
    ["POST", "/v1/events", "ingest"],
    ["GET", "/v1/events", "read"],
    ["GET", "/v1/tokens", "admin"],
    ["DELETE", "/v1/tokens/tok_1", "admin"],
    ["GET", "/io_sum", "account-read"],
    ["GET", "/", "account-read"],
    ["GET", "/usage", "account-read"],
    ["GET", "/something-new", "read"],
    ["POST", "/something-new", "admin"],
    ["PUT", "/usage", "admin"],
    ["GET", "/usage/accounts/AUTH_x", "account-read"],
    ["GET", "/usage/accounts/", "read"],
    ["GET", "/v1/petnames/AUTH_x", "account-read"],
    ["PUT", "/v1/petnames/AUTH_x", "admin"],
    ["PATCH", "/v1/petnames", "admin"],
    ["POST", "/v1/invitations", "admin"],
    ["POST", "/v1/invitations/accept", "holder"],
  ])("%s %s is %s", (method, path, access) => expect(accessFor(method, path)).toBe(access));
});

describe("admits", () => {
  it("admits each role to its classes only, and a request without a token to reads only", () => {
    const table = (["any", "holder", "read", "account-read", "ingest", "admin"] as const).map((access) => [
      access,
      ...(["admin", "ingest", "read", "account"] as const).map((r) => admits(access, as(r))),
      admits(access, LOCAL_PRINCIPAL),
    ]);
    expect(table).toEqual([
      ["any", true, true, true, true, true],
      ["holder", true, true, true, true, false],
      ["read", true, false, true, false, true],
      ["account-read", true, false, true, true, true],
      ["ingest", true, true, false, false, false],
      ["admin", true, false, false, false, false],
    ]);
  });
});
