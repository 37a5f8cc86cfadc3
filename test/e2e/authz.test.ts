// Authorization over a real `tally serve`: every route (as /openapi.json lists them) × every role × no token,
// a wrong one, a revoked one and the right one, with the status each must get. Then the loopback exception.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, removeDir, TallyServer, tempDir } from "./helpers.js";

const run = promisify(execFile);

interface Tally {
  readonly url: string;
  /** The first admin token, from DATA/admin-token. */
  readonly admin: string;
  stop(): Promise<void>;
}

async function startTally(args: string[]): Promise<Tally> {
  const dir = tempDir("authz");
  const server = await TallyServer.start({ dataDir: dir, args });
  return {
    url: server.url,
    admin: server.token,
    stop: async () => {
      await server.stop();
      removeDir(dir);
    },
  };
}

const WHO = ["admin", "ingest", "read", "account-own", "account-other", "metrics"] as const;
type Who = (typeof WHO)[number];
const CREDENTIALS = ["none", "wrong", "revoked", "right"] as const;
type Credential = (typeof CREDENTIALS)[number];

const OWN = "AUTH_own";
const SWIFT_QUERY = `account_id=${OWN};begin_time=2012-10-22%2008:00:00;end_time=2012-10-22%2010:00:00`;

interface Ctx {
  readonly tally: Tally;
  /** A fresh token for a DELETE to revoke. */
  victim(): Promise<string>;
}

interface RouteCase {
  request(ctx: Ctx): Promise<{ path: string; init?: RequestInit }> | { path: string; init?: RequestInit };
  /** The status for each role's valid token. */
  readonly right: Readonly<Record<Who, number>>;
  /** The status without any token: 401 unless the request carries its own credential. */
  readonly none?: number;
}

const every = (status: number): Record<Who, number> => ({
  admin: status,
  ingest: status,
  read: status,
  "account-own": status,
  "account-other": status,
  metrics: status,
});
/** Every role but metrics, which may call /metrics and nothing else (not even /healthz). */
const everyButMetrics = (status: number): Record<Who, number> => ({ ...every(status), metrics: 403 });
const adminOnly = (status: number): Record<Who, number> => ({ ...every(403), admin: status });
/** Usage of account OWN: the read roles, and the account token for OWN. */
const ownUsage: Record<Who, number> = {
  admin: 200,
  ingest: 403,
  read: 200,
  "account-own": 200,
  "account-other": 403,
  metrics: 403,
};

const event = (server: string) =>
  JSON.stringify([
    { id: `e-${Math.random()}`, server, time: "2012-10-22T08:30:00Z", account: OWN, metric: "requests.get", value: 1 },
  ]);

/**
 * Every route, keyed as in /openapi.json. A route added to the app (and so to /openapi.json) without a line here
 * fails the first test below: say who may call it.
 */
const ROUTES: Record<string, RouteCase> = {
  "get /healthz": { request: () => ({ path: "/healthz" }), right: everyButMetrics(200) },
  "get /openapi.json": { request: () => ({ path: "/openapi.json" }), right: everyButMetrics(200) },
  "get /metrics": {
    request: () => ({ path: "/metrics" }),
    right: { ...every(403), admin: 200, read: 200, metrics: 200 },
  },
  "post /v1/events": {
    request: () => ({
      path: "/v1/events",
      init: { method: "POST", body: event("s1"), headers: { "Content-Type": "application/json" } },
    }),
    right: { ...every(403), admin: 200, ingest: 200 },
  },
  "get /io_sum": { request: () => ({ path: `/io_sum?${SWIFT_QUERY}` }), right: ownUsage },
  "get /io_detail": { request: () => ({ path: `/io_detail?${SWIFT_QUERY}` }), right: ownUsage },
  "get /space_detail": { request: () => ({ path: `/space_detail?${SWIFT_QUERY}` }), right: ownUsage },
  "get /": {
    request: () => ({
      path: "/",
      init: {
        headers: {
          "X-Query-Method": "io_sum",
          "X-Account-Id": OWN,
          "X-Begin-Time": "2012-10-22 08:00:00",
          "X-End-Time": "2012-10-22 10:00:00",
        },
      },
    }),
    right: ownUsage,
  },
  "get /v1/tokens": { request: () => ({ path: "/v1/tokens" }), right: adminOnly(200) },
  "get /v1/backup": { request: () => ({ path: "/v1/backup" }), right: adminOnly(200) },
  "put /v1/policy": {
    request: () => ({ path: "/v1/policy?from=2026-01-01T00:00:00Z", init: { method: "PUT", body: POLICY } }),
    right: { ...every(403), admin: 201 },
  },
  "get /v1/policy": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: "/v1/policy" };
    },
    right: { ...every(403), admin: 200, read: 200 },
  },
  // Each call starts the agreement an hour after the one before: ranges never overlap.
  "put /v1/accounts/{account}/agreement": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      const from = new Date(Date.UTC(2026, 0, 1) + agreementsSet++ * 3_600_000).toISOString();
      return {
        path: `/v1/accounts/${OWN}/agreement`,
        init: { method: "PUT", body: JSON.stringify({ agreement: "std", from }) },
      };
    },
    right: { ...every(403), admin: 200 },
  },
  "put /v1/groups/{group}/agreement": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      const from = new Date(Date.UTC(2026, 0, 1) + agreementsSet++ * 3_600_000).toISOString();
      return {
        path: "/v1/groups/team/agreement",
        init: { method: "PUT", body: JSON.stringify({ agreement: "std", from }) },
      };
    },
    right: { ...every(403), admin: 200 },
  },
  "put /v1/accounts/{account}/group": {
    request: () => {
      const from = new Date(Date.UTC(2026, 0, 1) + agreementsSet++ * 3_600_000).toISOString();
      return {
        path: `/v1/accounts/${OWN}/group`,
        init: { method: "PUT", body: JSON.stringify({ group: "team", from }) },
      };
    },
    right: { ...every(403), admin: 200 },
  },
  "get /v1/accounts/{account}/group": {
    request: () => ({ path: `/v1/accounts/${OWN}/group` }),
    right: ownUsage,
  },
  // Closing is idempotent: every admin call answers 200.
  "post /v1/accounts/{account}/bills/{period}/close": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: `/v1/accounts/${OWN}/bills/2026-10/close`, init: { method: "POST" } };
    },
    right: { ...every(403), admin: 200 },
  },
  "post /v1/bills/{period}/close": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: "/v1/bills/2026-10/close", init: { method: "POST" } };
    },
    right: { ...every(403), admin: 200 },
  },
  "get /v1/accounts/{account}/bills/{period}": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: `/v1/accounts/${OWN}/bills/2026-11` };
    },
    right: ownUsage,
  },
  "get /v1/accounts/{account}/bills/{period}/explain": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: `/v1/accounts/${OWN}/bills/2026-11/explain` };
    },
    right: ownUsage,
  },
  "get /usage/bills/{period}/{account}": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: `/usage/bills/2026-11/${OWN}?format=json` };
    },
    right: ownUsage,
  },
  "get /usage/explain/{period}/{account}": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: `/usage/explain/2026-11/${OWN}?format=json` };
    },
    right: ownUsage,
  },
  "get /v1/accounts/{account}/balance": {
    request: async (ctx) => {
      await loadPolicy(ctx.tally);
      return { path: `/v1/accounts/${OWN}/balance` };
    },
    right: ownUsage,
  },
  "get /v1/records/star": {
    request: () => ({ path: "/v1/records/star?from=2026-01-01&to=2026-01-02" }),
    right: { ...every(403), admin: 200, read: 200 },
  },
  // An empty StAR document: a valid import of nothing.
  "post /v1/records/star": {
    request: () => ({
      path: "/v1/records/star",
      init: {
        method: "POST",
        headers: { "content-type": "application/xml" },
        body: '<sr:StorageUsageRecords xmlns:sr="http://eu-emi.eu/namespaces/2011/02/storagerecord"/>',
      },
    }),
    right: { ...every(403), admin: 200, ingest: 200 },
  },
  "get /v1/records/summary": {
    request: () => ({ path: "/v1/records/summary?from=2026-01-01&to=2026-01-02" }),
    right: { ...every(403), admin: 200, read: 200 },
  },
  "get /v1/backup/{file}": { request: () => ({ path: "/v1/backup/tally-derived.sqlite" }), right: adminOnly(200) },
  "post /v1/tokens": {
    request: () => ({
      path: "/v1/tokens",
      init: { method: "POST", body: JSON.stringify({ role: "read" }), headers: { "Content-Type": "application/json" } },
    }),
    right: adminOnly(201),
  },
  "delete /v1/tokens/{id}": {
    request: async (ctx) => ({ path: `/v1/tokens/${await ctx.victim()}`, init: { method: "DELETE" } }),
    right: adminOnly(200),
  },
  "get /usage": { request: () => ({ path: "/usage?format=json" }), right: { ...ownUsage, "account-other": 200 } },
  // No state metric is stored here: the read roles pass, and are then told the metric is not a state.
  "get /usage/states": {
    request: () => ({ path: "/usage/states?metric=power.on&format=json" }),
    right: { ...every(403), admin: 400, read: 400 },
  },
  "get /usage/accounts/{account}": {
    request: () => ({ path: `/usage/accounts/${OWN}?format=json` }),
    right: ownUsage,
  },
  "patch /v1/petnames": {
    request: () => ({
      path: "/v1/petnames",
      init: {
        method: "PATCH",
        body: JSON.stringify({ [OWN]: "Own" }),
        headers: { "Content-Type": "application/json" },
      },
    }),
    right: adminOnly(200),
  },
  "get /v1/petnames/{account}": {
    request: async (ctx) => {
      await api(ctx.tally, "PUT", `/v1/petnames/${OWN}`, { petname: "Own" });
      return { path: `/v1/petnames/${OWN}` };
    },
    // An account token may read its own account's petname.
    right: ownUsage,
  },
  "put /v1/petnames/{account}": {
    request: () => ({
      path: `/v1/petnames/${OWN}`,
      init: {
        method: "PUT",
        body: JSON.stringify({ petname: "Own" }),
        headers: { "Content-Type": "application/json" },
      },
    }),
    right: adminOnly(200),
  },
  "delete /v1/petnames/{account}": {
    request: async (ctx) => {
      await api(ctx.tally, "PUT", `/v1/petnames/${OWN}`, { petname: "Own" });
      return { path: `/v1/petnames/${OWN}`, init: { method: "DELETE" } };
    },
    right: adminOnly(200),
  },
  "post /v1/invitations": {
    request: () => ({
      path: "/v1/invitations",
      init: {
        method: "POST",
        body: JSON.stringify({ petname: "Guest" }),
        headers: { "Content-Type": "application/json" },
      },
    }),
    right: adminOnly(201),
  },
  // The code is the credential: anyone who holds one may accept it, with no token (a fresh code for each call); a
  // token that is presented is still checked.
  "post /v1/invitations/accept": {
    request: async (ctx) => {
      const { code } = await api(ctx.tally, "POST", "/v1/invitations", { petname: "Guest" });
      return {
        path: "/v1/invitations/accept",
        init: { method: "POST", body: JSON.stringify({ code }), headers: { "Content-Type": "application/json" } },
      };
    },
    right: everyButMetrics(201),
    none: 201,
  },
  // The capability is the credential: anyone who holds it may read the feed, with no token; a token that is
  // presented is still checked.
  "get /v1/feed/{capability}": {
    request: async (ctx) => {
      const { capability } = await api(ctx.tally, "POST", "/v1/feeds", {});
      return { path: `/v1/feed/${capability as string}?format=json` };
    },
    right: everyButMetrics(200),
    none: 200,
  },
  "get /v1/feeds": { request: () => ({ path: "/v1/feeds" }), right: adminOnly(200) },
  "post /v1/feeds": {
    request: () => ({
      path: "/v1/feeds",
      init: { method: "POST", body: JSON.stringify({ note: "n" }), headers: { "Content-Type": "application/json" } },
    }),
    right: adminOnly(201),
  },
  "delete /v1/feeds/{id}": {
    request: async (ctx) => {
      const { feed } = await api(ctx.tally, "POST", "/v1/feeds", {});
      return { path: `/v1/feeds/${(feed as { id: string }).id}`, init: { method: "DELETE" } };
    },
    right: adminOnly(200),
  },
  "get /v1/subscriptions": { request: () => ({ path: "/v1/subscriptions" }), right: adminOnly(200) },
  "post /v1/subscriptions": {
    request: () => ({
      path: "/v1/subscriptions",
      init: {
        method: "POST",
        body: JSON.stringify({ url: fakeFeedUrl(), name: `sub-${Math.random().toString(36).slice(2)}` }),
        headers: { "Content-Type": "application/json" },
      },
    }),
    right: adminOnly(201),
  },
  "delete /v1/subscriptions/{name}": {
    request: async (ctx) => {
      const name = `sub-${Math.random().toString(36).slice(2)}`;
      await api(ctx.tally, "POST", "/v1/subscriptions", { url: fakeFeedUrl(), name });
      return { path: `/v1/subscriptions/${name}`, init: { method: "DELETE" } };
    },
    right: adminOnly(200),
  },
};

/** A feed URL nothing answers at (port 9, discard): subscribing needs no reachable upstream. */
function fakeFeedUrl(): string {
  const capability = Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 256))).toString(
    "base64url",
  );
  return `http://127.0.0.1:9/v1/feed/tfc_${capability}`;
}

let strict: Tally;
const secrets = {} as Record<Who, { right: string; revoked: string }>;

const POLICY = `resources:
  - name: storage
    unit: GB-month
    costpolicy: continuous
    metric: storage.bytes
pricelists:
  - name: disk
    storage: 0.02
agreements:
  - name: std
    pricelist: disk
default_agreement: std
`;
let agreementsSet = 0;
const policyLoaded = new Set<string>();

/** The charging policy, loaded once per server, in effect from 2026 (409: the PUT case loaded it already). */
async function loadPolicy(tally: Tally): Promise<void> {
  if (policyLoaded.has(tally.url)) return;
  const res = await fetch(`${tally.url}/v1/policy?from=2026-01-01T00:00:00Z`, {
    method: "PUT",
    headers: { "X-Auth-Token": tally.admin },
    body: POLICY,
  });
  expect([201, 409], `PUT /v1/policy: ${await res.text()}`).toContain(res.status);
  policyLoaded.add(tally.url);
}

async function api(tally: Tally, method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${tally.url}${route}`, {
    method,
    headers: { "X-Auth-Token": tally.admin, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.ok, `${method} ${route}: ${res.status}`).toBe(true);
  return (await res.json()) as Record<string, unknown>;
}

async function tokenPair(tally: Tally, spec: Record<string, unknown>): Promise<{ right: string; revoked: string }> {
  const right = (await api(tally, "POST", "/v1/tokens", spec)).secret as string;
  const revoked = (await api(tally, "POST", "/v1/tokens", spec)) as { secret: string; token: { id: string } };
  await api(tally, "DELETE", `/v1/tokens/${revoked.token.id}`);
  return { right, revoked: revoked.secret };
}

const SPECS: Record<Exclude<Who, "admin">, Record<string, unknown>> = {
  ingest: { role: "ingest", servers: ["s1"] },
  read: { role: "read" },
  "account-own": { role: "account", account: OWN },
  "account-other": { role: "account", account: "AUTH_other" },
  metrics: { role: "metrics" },
};

beforeAll(async () => {
  strict = await startTally(["--no-local-reads"]);
  secrets.admin = await tokenPair(strict, { role: "admin" });
  for (const [who, spec] of Object.entries(SPECS)) secrets[who as Who] = await tokenPair(strict, spec);
  // Something to read for the account pages.
  const sent = await fetch(`${strict.url}/v1/events`, {
    method: "POST",
    headers: { "X-Auth-Token": strict.admin, "Content-Type": "application/json" },
    body: JSON.stringify([
      { id: "l1", server: "s1", time: "2012-10-22T08:00:00Z", account: OWN, metric: "storage.bytes", value: 5 },
      {
        id: "l2",
        server: "s1",
        time: "2012-10-22T08:00:00Z",
        account: "AUTH_other",
        metric: "storage.bytes",
        value: 7,
      },
    ]),
  });
  expect(sent.status).toBe(200);
});

afterAll(async () => {
  await strict?.stop();
  killAll();
});

function credential(who: Who, cred: Credential): Record<string, string> {
  switch (cred) {
    case "none":
      return {};
    case "wrong":
      return { "X-Auth-Token": "tly_0000000000000000000000000000000000000000000" };
    case "revoked":
      return { "X-Auth-Token": secrets[who].revoked };
    case "right":
      // Half the roles by Authorization: Bearer, half by X-Auth-Token: both forms are exercised.
      return who === "read" || who === "account-own"
        ? { Authorization: `Bearer ${secrets[who].right}` }
        : { "X-Auth-Token": secrets[who].right };
  }
}

async function call(tally: Tally, rc: RouteCase, headers: Record<string, string>): Promise<Response> {
  const ctx: Ctx = {
    tally,
    victim: async () =>
      ((await api(tally, "POST", "/v1/tokens", { role: "read", note: "victim" })).token as { id: string }).id,
  };
  const { path: route, init } = await rc.request(ctx);
  return fetch(`${tally.url}${route}`, {
    ...init,
    headers: { ...(init?.headers as Record<string, string>), ...headers },
  });
}

describe("authorization, local reads off", () => {
  it("has a line for every route in /openapi.json, and no route that is not there", async () => {
    const doc = (await api(strict, "GET", "/openapi.json")) as { paths: Record<string, Record<string, unknown>> };
    const described = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m} ${p}`));
    expect(described.filter((r) => !(r in ROUTES)).sort(), "routes without an expected status here").toEqual([]);
    expect(
      Object.keys(ROUTES).filter((r) => !described.includes(r)),
      "lines here for routes that do not exist",
    ).toEqual([]);
  });

  it.each(Object.keys(ROUTES))("%s", async (route) => {
    const rc = ROUTES[route] as RouteCase;
    const got: string[] = [];
    const want: string[] = [];
    for (const who of WHO) {
      for (const cred of CREDENTIALS) {
        const res = await call(strict, rc, credential(who, cred));
        const expected = cred === "right" ? rc.right[who] : cred === "none" ? (rc.none ?? 401) : 401;
        got.push(`${who} ${cred}: ${res.status}`);
        want.push(`${who} ${cred}: ${expected}`);
        if (res.status >= 400) {
          const body = (await res.json()) as { error: { code: string } };
          if (res.status === 401) expect(body.error.code).toBe("UNAUTHORIZED");
          if (res.status === 403) expect(body.error.code).toBe("FORBIDDEN");
        } else {
          await res.arrayBuffer();
        }
      }
    }
    expect(got).toEqual(want);
  });

  it("shows an account token only its own row of /usage, and refuses it another account by name", async () => {
    const own = { "X-Auth-Token": secrets["account-own"].right };
    const probe = await fetch(`${strict.url}/usage?format=json`, { headers: own });
    expect(probe.status).toBe(200);
    const text = await probe.text();
    expect(text).toContain(OWN);
    expect(text).not.toContain("AUTH_other");
    for (const route of [
      "/usage?account=AUTH_other&format=json",
      "/usage?accounts=AUTH_own,AUTH_other&format=json",
      "/usage/accounts/AUTH_other?format=json",
      "/usage/bills/2026-11/AUTH_other?format=json",
      "/usage/explain/2026-11/AUTH_other?format=json",
      "/v1/accounts/AUTH_other/bills/2026-11/explain",
      "/v1/petnames/AUTH_other",
      "/io_sum?account_id=AUTH_other;begin_time=2012-10-22%2008:00:00;end_time=2012-10-22%2010:00:00",
    ]) {
      expect((await fetch(`${strict.url}${route}`, { headers: own })).status, route).toBe(403);
    }
  });

  it("takes an ingest token's events for its servers and rejects the others line by line", async () => {
    const res = await fetch(`${strict.url}/v1/events`, {
      method: "POST",
      headers: { "X-Auth-Token": secrets.ingest.right, "Content-Type": "application/x-ndjson" },
      body: [
        { id: "i1", server: "s1", time: "2012-10-22T08:00:00Z", account: OWN, metric: "requests.put", value: 1 },
        { id: "i2", server: "s2", time: "2012-10-22T08:00:00Z", account: OWN, metric: "requests.put", value: 1 },
      ]
        .map((e) => JSON.stringify(e))
        .join("\n"),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [{ index: 1, id: "i2", reason: "this token may send events for server s1 only, not s2" }],
    });
  });
});

describe("authorization, local reads on (the default on loopback)", () => {
  let local: Tally;
  let read: { right: string; revoked: string };
  beforeAll(async () => {
    local = await startTally([]);
    read = await tokenPair(local, { role: "read" });
  });
  afterAll(async () => {
    await local?.stop();
  });

  const status = async (route: string, headers: Record<string, string> = {}, method = "GET") =>
    (await fetch(`${local.url}${route}`, { method, headers })).status;

  it("answers reads without a token", async () => {
    expect(await status("/healthz")).toBe(200);
    expect(await status("/openapi.json")).toBe(200);
    expect(await status(`/io_sum?${SWIFT_QUERY}`)).toBe(200);
  });

  it("never downgrades a wrong or revoked token to a local read", async () => {
    expect(await status(`/io_sum?${SWIFT_QUERY}`, { "X-Auth-Token": "tly_nope" })).toBe(401);
    expect(await status(`/io_sum?${SWIFT_QUERY}`, { "X-Auth-Token": read.revoked })).toBe(401);
    expect(await status(`/io_sum?${SWIFT_QUERY}`, { Authorization: "Basic YTpi" })).toBe(401);
  });

  it("still needs a token to write or to manage tokens, and the right role for it", async () => {
    expect(await status("/v1/events", { "Content-Type": "application/json" }, "POST")).toBe(401);
    expect(await status("/v1/tokens")).toBe(401);
    expect(await status("/v1/tokens/tok_x", {}, "DELETE")).toBe(401);
    expect(await status("/v1/tokens", { "X-Auth-Token": read.right })).toBe(403);
  });

  it("refuses a request without a token whose Host is not loopback (DNS rebinding)", async () => {
    const curl = async (host: string) =>
      (
        await run("curl", [
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "-H",
          `Host: ${host}`,
          `${local.url}/healthz`,
        ])
      ).stdout;
    expect(await curl("evil.example:8124")).toBe("401");
    expect(await curl("localhost:8124")).toBe("200");
  });
});
