import { describe, expect, it } from "vitest";
import { accessFor, admits } from "./access.js";
import { canIngestFor, canRead, canReadAccount, LOCAL_PRINCIPAL, type Principal, type Role } from "./principal.js";

const as = (role: Role): Principal => ({ role, tokenId: "t", account: role === "account" ? "a" : null, servers: null });

describe("accessFor", () => {
  it.each([
    ["GET", "/healthz", "any"],
    ["GET", "/metrics", "metrics"],
    ["HEAD", "/metrics", "metrics"],
    ["POST", "/metrics", "admin"],
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

describe("a metrics token", () => {
  it("is in the metrics class only, and may read no usage", () => {
    const classes = ["any", "holder", "read", "account-read", "ingest", "metrics", "admin"] as const;
    expect(classes.filter((access) => admits(access, as("metrics")))).toEqual(["metrics"]);
    expect(canRead(as("metrics"))).toBe(false);
    expect(canReadAccount(as("metrics"), "a")).toBe(false);
    expect(canIngestFor(as("metrics"), "s1")).toBe(false);
  });
});

describe("admits", () => {
  it("admits each role to its classes only, and a request without a token to reads only", () => {
    const table = (["any", "holder", "read", "account-read", "ingest", "metrics", "admin"] as const).map((access) => [
      access,
      ...(["admin", "ingest", "read", "account", "metrics"] as const).map((r) => admits(access, as(r))),
      admits(access, LOCAL_PRINCIPAL),
    ]);
    expect(table).toEqual([
      ["any", true, true, true, true, false, true],
      ["holder", true, true, true, true, false, false],
      ["read", true, false, true, false, false, true],
      ["account-read", true, false, true, true, false, true],
      ["ingest", true, true, false, false, false, false],
      ["metrics", true, false, true, false, true, true],
      ["admin", true, false, false, false, false, false],
    ]);
  });
});
