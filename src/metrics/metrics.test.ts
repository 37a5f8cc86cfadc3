// /metrics and request ids in process: counts by source and outcome, who may read them, promtool's verdict on the
// text, and the request id on the log lines of a request.

import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../auth/create-token.js";
import type { Backend } from "../backend/backend.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createApp } from "../http/app.js";
import { createLogger } from "../log/logger.js";
import { Metrics } from "./metrics.js";

let backend: Backend;
let app: ReturnType<typeof createApp>;
const lines: Record<string, unknown>[] = [];
const secrets: Record<string, string> = {};

beforeAll(async () => {
  backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 16 });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger("debug", sink);
  const metrics = new Metrics();
  metrics.derivation(() => backend.maintenance.derivationLag());
  metrics.subscriptions(() => backend.feeds.listSubscriptions());
  app = createApp({
    backend,
    logger,
    metrics,
    maxBodyBytes: 1 << 20,
    maxQueryDays: 366,
    localReads: false,
  });
  app.get("/test-failure", () => {
    throw new Error("a failure inside a route");
  });
  for (const role of ["admin", "read", "ingest", "metrics"] as const)
    secrets[role] = (await createToken(backend.tokens, { role })).secret;
  secrets.account = (await createToken(backend.tokens, { role: "account", account: "a" })).secret;
});
afterAll(async () => {
  await backend.close();
});

const auth = (role: string) => ({ authorization: `Bearer ${secrets[role]}` });
const event = (id: string, value: unknown = 1) =>
  JSON.stringify({ id, server: "s1", time: "2026-11-23T12:00:00Z", account: "a", metric: "requests.get", value });

async function metricsText(): Promise<string> {
  const res = await app.request("/metrics", { headers: auth("read") });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** The value of one sample, by its name and labels as written. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no sample ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  it("counts events accepted, duplicate and rejected by source, and requests by route and status", async () => {
    const body = [event("m1"), event("m2"), event("m1"), event("m3", -5)].join("\n");
    const res = await app.request("/v1/events", {
      method: "POST",
      headers: { ...auth("ingest"), "content-type": "application/x-ndjson" },
      body,
    });
    expect(await res.json()).toMatchObject({ accepted: 2, duplicates: 1 });
    const text = await metricsText();
    expect(sample(text, 'tally_events_total{source="http",outcome="accepted"}')).toBe(2);
    expect(sample(text, 'tally_events_total{source="http",outcome="duplicate"}')).toBe(1);
    expect(sample(text, 'tally_events_total{source="http",outcome="rejected"}')).toBe(1);
    expect(sample(text, 'tally_events_total{source="jetstream",outcome="accepted"}')).toBe(0);
    expect(sample(text, 'tally_ingest_duration_seconds_count{source="http"}')).toBe(1);
    expect(sample(text, 'tally_store_insert_duration_seconds_count{source="http"}')).toBe(1);
    expect(sample(text, 'tally_http_requests_total{method="POST",route="/v1/events",status="200"}')).toBe(1);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it("says how far the derived state is behind the event log, none once a read has waited for it", async () => {
    await app.request("/usage?format=json", { headers: auth("read") });
    const text = await metricsText();
    expect(sample(text, "tally_derivation_lag_events")).toBe(0);
    expect(sample(text, "tally_derivation_lag_seconds")).toBe(0);
    expect(text).toMatch(/^# TYPE tally_derivation_lag_events gauge$/m);
  });

  it("labels a route as registered, not as asked, and an unknown path as unmatched", async () => {
    await app.request("/usage/accounts/someone", { headers: auth("read") });
    await app.request("/no/such/path", { headers: auth("read") });
    const text = await metricsText();
    expect(text).toMatch(
      /tally_http_requests_total\{method="GET",route="\/usage\/accounts\/:account\{?[^"]*",status="\d+"\} 1/,
    );
    expect(text).not.toMatch(/someone/);
    expect(sample(text, 'tally_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
  });

  it("is for admin, read and metrics tokens only", async () => {
    expect((await app.request("/metrics")).status).toBe(401);
    expect((await app.request("/metrics", { headers: auth("admin") })).status).toBe(200);
    expect((await app.request("/metrics", { headers: auth("metrics") })).status).toBe(200);
    expect((await app.request("/metrics", { headers: auth("ingest") })).status).toBe(403);
    expect((await app.request("/metrics", { headers: auth("account") })).status).toBe(403);
  });

  it("gives a metrics token nothing but /metrics", async () => {
    const routes = [
      ["GET", "/healthz"],
      ["GET", "/openapi.json"],
      ["GET", "/usage?format=json"],
      ["GET", "/usage/accounts/a?format=json"],
      ["GET", "/io_sum?account_id=a;begin_time=2026-11-23%2000:00:00;end_time=2026-11-24%2000:00:00"],
      ["GET", "/v1/petnames/a"],
      ["GET", "/v1/tokens"],
      ["GET", "/v1/backup"],
      ["GET", "/v1/feeds"],
      ["GET", "/v1/subscriptions"],
      ["POST", "/v1/events"],
      ["POST", "/v1/tokens"],
      ["POST", "/v1/invitations/accept"],
    ] as const;
    const got: string[] = [];
    for (const [method, path] of routes) {
      const headers = { ...auth("metrics"), "content-type": "application/json" };
      const res = await app.request(path, { method, headers, ...(method === "POST" ? { body: "{}" } : {}) });
      const body = (await res.json()) as { error?: { code: string } };
      got.push(`${method} ${path} ${res.status} ${body.error?.code}`);
    }
    expect(got).toEqual(routes.map(([method, path]) => `${method} ${path} 403 FORBIDDEN`));
    const res = await app.request("/usage", { headers: auth("metrics") });
    expect(await res.json()).toEqual({
      error: {
        code: "FORBIDDEN",
        message: "a token of role metrics may not GET /usage: it needs an admin, read or account token",
      },
    });
  });

  it("gives each subscription's state, lag and last success, as the feeds store holds them", async () => {
    const now = Date.now();
    await backend.feeds.insertSubscription({
      id: "sub_1",
      name: "north",
      url: "http://127.0.0.1:1/v1/feed/tfc_secret",
      createdAt: now - 600_000,
      health: {
        state: "failing",
        lastError: "down",
        lastSuccess: now - 90_000,
        lagEvents: 12,
        caughtUpAt: now - 60_000,
      },
    });
    await backend.feeds.insertSubscription({
      id: "sub_2",
      name: "south",
      url: "http://127.0.0.1:1/v1/feed/tfc_other",
      createdAt: now - 5_000,
      health: { state: "new", lastError: null, lastSuccess: null, lagEvents: null, caughtUpAt: null },
    });
    const text = await metricsText();
    expect(sample(text, 'tally_subscription_state{subscription="north",state="failing"}')).toBe(1);
    expect(sample(text, 'tally_subscription_state{subscription="north",state="live"}')).toBe(0);
    expect(sample(text, 'tally_subscription_state{subscription="south",state="new"}')).toBe(1);
    expect(sample(text, 'tally_subscription_lag_events{subscription="north"}')).toBe(12);
    expect(sample(text, 'tally_subscription_lag_seconds{subscription="north"}')).toBeGreaterThanOrEqual(60);
    expect(sample(text, 'tally_subscription_lag_seconds{subscription="north"}')).toBeLessThan(70);
    // Never caught up: behind since it was added.
    expect(sample(text, 'tally_subscription_lag_seconds{subscription="south"}')).toBeGreaterThanOrEqual(5);
    expect(sample(text, 'tally_subscription_last_success_timestamp_seconds{subscription="north"}')).toBe(
      (now - 90_000) / 1000,
    );
    expect(text).not.toMatch(/tally_subscription_(lag_events|last_success_timestamp_seconds)\{subscription="south"/);
    expect(text).not.toContain("tfc_");
  });

  it("passes promtool check metrics", async () => {
    const text = await metricsText();
    const found = spawnSync("promtool", ["--version"], { encoding: "utf8" });
    if (found.error) {
      // CI installs Prometheus (.ci/run); elsewhere the check is skipped with a reason, never silently in CI.
      if (process.env.CI === "true") throw new Error("promtool is missing: install Debian's prometheus package");
      console.warn("promtool is not installed (Debian package prometheus): the format check is skipped");
      return;
    }
    const checked = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(`${checked.stdout}${checked.stderr}`).toBe("");
    expect(checked.status).toBe(0);
  });
});

describe("request ids", () => {
  it("returns the client's X-Request-Id and puts it on every line logged while answering", async () => {
    lines.length = 0;
    const res = await app.request("/test-failure", { headers: { ...auth("read"), "x-request-id": "req-42.a" } });
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toBe("req-42.a");
    const logged = lines.filter((l) => l.reqId === "req-42.a");
    expect(logged.map((l) => l.msg)).toEqual(["unexpected error", "GET /test-failure 500"]);
    expect(lines.filter((l) => l.reqId !== "req-42.a")).toEqual([]);
  });

  it("makes an id when the client sends none or one that is not sane, and none outside a request", async () => {
    lines.length = 0;
    const bad = await app.request("/healthz", { headers: { ...auth("read"), "x-request-id": "two words\u0001" } });
    const none = await app.request("/healthz", { headers: auth("read") });
    const ids = [bad.headers.get("x-request-id"), none.headers.get("x-request-id")];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(lines.map((l) => l.reqId)).toEqual(ids);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    createLogger("info", sink).info("outside");
    expect(lines.at(-1)).not.toHaveProperty("reqId");
  });
});
