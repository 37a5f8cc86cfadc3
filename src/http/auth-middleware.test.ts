// The middleware in process: how a token is found and checked, and where the loopback exception stops.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../auth/create-token.js";
import { revokeToken } from "../auth/revoke-token.js";
import type { TokenStore } from "../auth/token-store.js";
import type { Backend } from "../backend/backend.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createLogger } from "../log/logger.js";
import { createApp } from "./app.js";

let backend: Backend;
let tokens: TokenStore;
let local: ReturnType<typeof createApp>;
let strict: ReturnType<typeof createApp>;
const secrets: Record<string, string> = {};

beforeAll(async () => {
  backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 16 });
  tokens = backend.tokens;
  const deps = { backend, logger: createLogger("silent"), maxBodyBytes: 1 << 20, maxQueryDays: 366 };
  local = createApp({ ...deps, localReads: true });
  strict = createApp({ ...deps, localReads: false });
  secrets.read = (await createToken(tokens, { role: "read" })).secret;
  secrets.account = (await createToken(tokens, { role: "account", account: "mine" })).secret;
  secrets.ingest = (await createToken(tokens, { role: "ingest", servers: ["s1"] })).secret;
  const revoked = await createToken(tokens, { role: "admin" });
  await revokeToken(tokens, revoked.token.id);
  secrets.revoked = revoked.secret;
});
afterAll(async () => {
  await backend.close();
});

const Q = "account_id=mine;begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z";

describe("auth middleware", () => {
  it("takes the token from X-Auth-Token or Authorization: Bearer", async () => {
    expect((await strict.request("/healthz", { headers: { "X-Auth-Token": secrets.read as string } })).status).toBe(
      200,
    );
    expect((await strict.request("/healthz", { headers: { Authorization: `Bearer ${secrets.read}` } })).status).toBe(
      200,
    );
    expect((await strict.request("/healthz", { headers: { Authorization: `bearer  ${secrets.read} ` } })).status).toBe(
      200,
    );
  });

  it("refuses other Authorization schemes and two different tokens with 401", async () => {
    const basic = await strict.request("/healthz", { headers: { Authorization: "Basic dXNlcjpwYXNz" } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get("WWW-Authenticate")).toBe('Bearer realm="tally"');
    const two = await strict.request("/healthz", {
      headers: { "X-Auth-Token": secrets.read as string, Authorization: `Bearer ${secrets.account}` },
    });
    expect(two.status).toBe(401);
    expect(((await two.json()) as { error: { message: string } }).error.message).toMatch(/different tokens/);
  });

  it("lets a local read in without a token, but never a bad token, a write, or the token list", async () => {
    expect((await local.request("/healthz")).status).toBe(200);
    expect((await local.request(`/io_sum?${Q}`)).status).toBe(200);
    expect((await local.request("/healthz", { headers: { "X-Auth-Token": "tly_wrong" } })).status).toBe(401);
    expect((await local.request("/healthz", { headers: { "X-Auth-Token": secrets.revoked as string } })).status).toBe(
      401,
    );
    expect((await local.request("/v1/tokens")).status).toBe(401);
    expect((await local.request("/v1/events", { method: "POST", body: "[]" })).status).toBe(401);
    expect((await strict.request("/healthz")).status).toBe(401);
  });

  it("refuses a request without a token whose Host is not loopback (DNS rebinding)", async () => {
    expect((await local.request("http://evil.example/healthz")).status).toBe(401);
    expect((await local.request("http://127.0.0.1:8124/healthz")).status).toBe(200);
    expect((await local.request("http://[::1]:8124/healthz")).status).toBe(200);
  });

  it("keeps an account token to its own account, in the query string or the header", async () => {
    const h = { "X-Auth-Token": secrets.account as string };
    expect((await strict.request(`/io_sum?${Q}`, { headers: h })).status).toBe(200);
    expect((await strict.request(`/io_sum?${Q.replace("mine", "theirs")}`, { headers: h })).status).toBe(403);
    const byHeader = {
      ...h,
      "X-Account-Id": "theirs",
      "X-Begin-Time": "2012-10-22 08:00:00",
      "X-End-Time": "2012-10-22 09:00:00",
    };
    expect((await strict.request("/space_detail", { headers: byHeader })).status).toBe(403);
    expect((await strict.request("/usage?account=theirs", { headers: h })).status).toBe(403);
  });

  it("rejects an ingest token's events for other servers line by line", async () => {
    const body = JSON.stringify([
      { id: "1", server: "s1", time: "2012-10-22T08:00:00Z", account: "a", metric: "requests.get", value: 1 },
      { id: "2", server: "s2", time: "2012-10-22T08:00:00Z", account: "a", metric: "requests.get", value: 1 },
    ]);
    const res = await strict.request("/v1/events", {
      method: "POST",
      body,
      headers: { "X-Auth-Token": secrets.ingest as string, "Content-Type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [{ index: 1, id: "2", reason: "this token may send events for server s1 only, not s2" }],
    });
  });
});
