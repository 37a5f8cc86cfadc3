// The usage routes over createApp with an in-memory store: shapes, formats, paging, escaping, access.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createToken } from "../auth/create-token.js";
import type { TokenStore } from "../auth/token-store.js";
import type { Backend } from "../backend/backend.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { HOUR_MS } from "../domain/time.js";
import { createApp } from "../http/app.js";
import { createLogger } from "../log/logger.js";
import { event } from "../store/contract-events.js";
import { level } from "./usage-view-contract.js";

let backend: Backend;
let tokens: TokenStore;
let app: ReturnType<typeof createApp>;

beforeEach(async () => {
  backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 1024 });
  tokens = backend.tokens;
  app = createApp({
    backend,
    logger: createLogger("silent"),
    maxBodyBytes: 1 << 20,
    localReads: true,
    maxQueryDays: 366,
    staleAfterMs: 60_000,
  });
});
afterEach(async () => {
  await backend.close();
});

const get = (path: string, headers: Record<string, string> = {}) => app.request(`http://localhost${path}`, { headers });
const getJson = async (path: string, headers: Record<string, string> = {}) => {
  const res = await get(path, headers);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};
const send = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request(`http://localhost${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...headers },
    body: body === undefined ? null : JSON.stringify(body),
  });
async function adminHeaders(): Promise<Record<string, string>> {
  const { secret } = await createToken(tokens, { role: "admin", account: null, servers: null, note: "" });
  return { "X-Auth-Token": secret };
}

describe("GET /usage", () => {
  it("answers JSON in exactly the documented shape, byte counts as decimal strings", async () => {
    const big = 2n ** 60n + 3n;
    await backend.events.insertEvents([
      level("1", "s1", "a", big),
      level("2", "s2", "a", 5n),
      level("3", "s1", "b", 7n),
    ]);
    await backend.petnames.set([{ account: "b", name: "Bee" }]);
    const json = await getJson("/usage?format=json");
    expect(Object.keys(json).sort()).toEqual(["as_of", "metric", "next", "rows", "servers", "totals"]);
    expect(json.metric).toBe("storage.bytes");
    expect(Number.isNaN(Date.parse(json.as_of as string))).toBe(false);
    expect(json.servers).toEqual([
      { id: "s1", name: "s1", last_heard: expect.any(String), stale: false },
      { id: "s2", name: "s2", last_heard: expect.any(String), stale: false },
    ]);
    expect(json.rows).toEqual([
      { account: "a", petname: null, by_server: { s1: big.toString(), s2: "5" }, total: (big + 5n).toString() },
      { account: "b", petname: "Bee", by_server: { s1: "7" }, total: "7" },
    ]);
    expect(json.totals).toEqual({ by_server: { s1: (big + 7n).toString(), s2: "5" }, total: (big + 12n).toString() });
    expect(json.next).toBeNull();
  });

  it("answers JSON to Accept: application/json and HTML to a browser", async () => {
    await backend.events.insertEvents([level("1", "s1", "a", 1n)]);
    const json = await get("/usage", { Accept: "application/json" });
    expect(json.headers.get("content-type")).toMatch(/application\/json/);
    const page = await get("/usage", { Accept: "text/html,application/xhtml+xml,*/*;q=0.8" });
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("answers CSV with a header, one line per row and a totals line", async () => {
    await backend.events.insertEvents([level("1", "s1", "a", 1n), level("2", "s2", "b", 2n)]);
    await backend.petnames.set([{ account: "a", name: '=HYPERLINK("x"), "quoted"' }]);
    const res = await get("/usage?format=csv");
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await res.text()).toBe(
      'account,petname,s1,s2,total\r\nb,,,2,2\r\na,"\'=HYPERLINK(""x""), ""quoted""",1,,1\r\n,(total),1,2,3\r\n',
    );
  });

  it("pages by cursor with next, a Link header and before, each account once", async () => {
    await backend.events.insertEvents(
      Array.from({ length: 25 }, (_, i) => level(`${i}`, "s1", `acct-${i}`, BigInt(i % 4))),
    );
    const seen: string[] = [];
    const cursors: string[] = [];
    let path = "/usage?format=json&limit=10";
    for (;;) {
      const res = await get(path);
      const json = (await res.json()) as { rows: { account: string }[]; next: string | null };
      seen.push(...json.rows.map((r) => r.account));
      if (!json.next) {
        expect(res.headers.get("link")).toBeNull();
        break;
      }
      expect(res.headers.get("link")).toContain(`after=${json.next}`);
      cursors.push(json.next);
      path = `/usage?format=json&limit=10&after=${json.next}`;
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    const back = await getJson(`/usage?format=json&limit=10&before=${encodeURIComponent(cursors[1] as string)}`);
    // The rows before the last one of the second page.
    expect((back.rows as { account: string }[]).map((r) => r.account)).toEqual(seen.slice(9, 19));
  });

  it("takes subsets, searches, sorts, restricts columns and reads history", async () => {
    await backend.events.insertEvents([
      level("1", "s1", "a", 1n, { time: Date.now() - 5 * HOUR_MS }),
      level("2", "s2", "b", 2n, { time: Date.now() }),
      level("3", "s1", "c", 3n, { time: Date.now() }),
      event({ id: "4", server: "s1", account: "a", metric: "storage.files", kind: "level", value: 9n }),
    ]);
    await backend.petnames.set([{ account: "b", name: "Bob's Backups" }]);
    const accounts = async (q: string) =>
      ((await getJson(`/usage?format=json&${q}`)).rows as { account: string }[]).map((r) => r.account);
    expect(await accounts("account=a&account=b")).toEqual(["b", "a"]);
    expect(await accounts("accounts=c,a")).toEqual(["c", "a"]);
    expect(await accounts("q=backups")).toEqual(["b"]);
    expect(await accounts("sort=account")).toEqual(["a", "b", "c"]);
    expect(await accounts("sort=s2")).toEqual(["b", "a", "c"]);
    expect(await accounts("metric=storage.files")).toEqual(["a"]);
    expect(await accounts(`at=${new Date(Date.now() - 2 * HOUR_MS).toISOString()}`)).toEqual(["a"]);
    const columns = await getJson("/usage?format=json&server=s2");
    expect((columns.servers as { id: string }[]).map((s) => s.id)).toEqual(["s2"]);
    expect(columns.totals).toEqual({ by_server: { s2: "2" }, total: "6" });
  });

  it("marks a server stale when it has been silent longer than the interval", async () => {
    await backend.events.insertEvents([level("1", "s1", "a", 1n)]);
    const later = createApp({
      backend,
      logger: createLogger("silent"),
      maxBodyBytes: 1 << 20,
      localReads: true,
      maxQueryDays: 366,
      staleAfterMs: -1,
    });
    const json = (await (await later.request("http://localhost/usage?format=json")).json()) as {
      servers: { stale: boolean }[];
    };
    expect(json.servers[0]?.stale).toBe(true);
    const page = await (await later.request("http://localhost/usage")).text();
    expect(page).toContain('<span class="badge">stale</span>');
  });

  it("refuses bad parameters with a clear error: JSON for machines, a page for people", async () => {
    for (const q of [
      "limit=0",
      "limit=10001",
      "limit=x",
      "format=xml",
      "after=nonsense",
      "sort=nowhere",
      "at=yesterday",
    ]) {
      const res = await get(`/usage?${q}`, { Accept: "application/json" });
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("VALIDATION");
    }
    const page = await get("/usage?limit=0", { Accept: "text/html" });
    expect(page.status).toBe(400);
    expect(await page.text()).toContain("limit must be a whole number");
  });

  it("refuses a counter, a state or an unknown metric in the format asked, naming it and the level metrics", async () => {
    await backend.events.insertEvents([
      level("1", "s1", "a", 1n),
      event({ id: "2", server: "s1", account: "a", metric: "requests.get", kind: "counter" }),
      event({ id: "3", server: "s1", account: "a", metric: "vm.running", kind: "state" }),
      event({ id: "4", server: "s1", account: "a", metric: "disk.used", kind: "level", value: 5n }),
    ]);
    const levels = "disk.used, storage.bytes, storage.containers, storage.files, storage.reserved";
    const cases = [
      [
        "requests.get",
        `metric "requests.get" is a counter, not a level; the usage table shows level metrics: ${levels}`,
      ],
      [
        "vm.running",
        `metric "vm.running" is a state, not a level (see /usage/states?metric=vm.running); ` +
          `the usage table shows level metrics: ${levels}`,
      ],
      [
        "nope.metric",
        `metric "nope.metric" is neither built in nor stored; the usage table shows level metrics: ${levels}`,
      ],
    ] as const;
    for (const [metric, message] of cases) {
      for (const [query, accept] of [
        ["format=json", ""],
        ["", "application/json"],
        ["format=csv", ""],
        ["", "text/csv"],
      ] as const) {
        const res = await get(`/usage?metric=${metric}&${query}`, accept ? { Accept: accept } : {});
        expect(res.status, `${metric} ${query}${accept}`).toBe(400);
        expect(await res.json()).toEqual({ error: { code: "VALIDATION", message } });
      }
      for (const [query, accept] of [
        ["format=html", ""],
        ["", "text/html"],
      ] as const) {
        const page = await get(`/usage?metric=${metric}&${query}`, accept ? { Accept: accept } : {});
        expect(page.status).toBe(400);
        expect(page.headers.get("content-type")).toMatch(/text\/html/);
        expect(await page.text()).toContain(message.replaceAll('"', "&quot;"));
      }
    }
    // A custom level is a level: the table shows it.
    expect((await getJson("/usage?format=json&metric=disk.used")).totals).toEqual({
      by_server: { s1: "5" },
      total: "5",
    });
  });

  it("refuses a cursor from another sort", async () => {
    await backend.events.insertEvents([level("1", "s1", "a", 1n), level("2", "s1", "b", 2n)]);
    const first = await getJson("/usage?format=json&limit=1");
    const res = await get(`/usage?format=json&limit=1&sort=account&after=${first.next}`);
    expect(res.status).toBe(400);
  });

  it("escapes a hostile petname everywhere it is shown", async () => {
    const evil = "<script>alert(1)</script>";
    await backend.events.insertEvents([level("1", "s1", "<b>acct</b>", 1n)]);
    await backend.petnames.set([{ account: "<b>acct</b>", name: evil }]);
    for (const path of ["/usage", "/usage?q=script", `/usage/accounts/${encodeURIComponent("<b>acct</b>")}`]) {
      const text = await (await get(path, { Accept: "text/html" })).text();
      expect(text, path).not.toContain("<script>");
      expect(text, path).not.toContain("<b>acct");
      expect(text, path).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
  });
});

describe("GET /usage/accounts/<account>", () => {
  it("shows the account per server with its charts, and JSON with format=json", async () => {
    const now = Date.now();
    await backend.events.insertEvents([
      level("1", "s1", "a/b c", 100n, { time: now - 3 * HOUR_MS }),
      level("2", "s1", "a/b c", 150n, { time: now - HOUR_MS }),
      level("3", "s2", "a/b c", 7n, { time: now - 10 * HOUR_MS }),
      event({ id: "4", server: "s1", account: "a/b c", metric: "requests.get", value: 12n, time: now - HOUR_MS }),
      event({ id: "5", server: "s1", account: "a/b c", metric: "bytes.out", value: 4096n, time: now - HOUR_MS }),
    ]);
    const path = `/usage/accounts/${encodeURIComponent("a/b c")}`;
    const json = await getJson(`${path}?format=json&hours=24`);
    expect(json.account).toBe("a/b c");
    expect(json.total).toEqual({ bytes: "157", files: "0" });
    expect((json.servers as { id: string; bytes: string }[]).map((s) => [s.id, s.bytes])).toEqual([
      ["s1", "150"],
      ["s2", "7"],
    ]);
    const hours = json.hours as { stored_bytes: string; requests: string; bytes_out: string }[];
    expect(hours).toHaveLength(24);
    expect(hours.at(-1)?.stored_bytes).toBe("157");
    expect(hours.at(-2)).toMatchObject({ stored_bytes: "157", requests: "12", bytes_out: "4096" });
    expect(hours.at(-4)?.stored_bytes).toBe("107");
    const page = await (await get(path)).text();
    expect(page).toContain('<svg class="chart"');
    expect(page).toContain("<polyline");
    expect(page).toContain('title="157 bytes"');
  });

  it("answers 404 for an account with nothing recorded", async () => {
    expect((await get("/usage/accounts/nobody?format=json")).status).toBe(404);
    expect((await get("/usage/accounts/nobody")).status).toBe(404);
  });
});

describe("petnames and invitations over HTTP", () => {
  it("sets, reads and removes a petname with an admin token, and refuses bad ones", async () => {
    const admin = await adminHeaders();
    expect((await send("PUT", "/v1/petnames/a", { petname: "Alice" })).status).toBe(401);
    const put = await send("PUT", "/v1/petnames/a", { petname: "  Alice  " }, admin);
    expect(await put.json()).toEqual({ account: "a", petname: "Alice" });
    expect(await getJson("/v1/petnames/a")).toEqual({ account: "a", petname: "Alice" });
    for (const bad of ["", "x".repeat(101), "a\u202Eb", 5]) {
      expect((await send("PUT", "/v1/petnames/a", { petname: bad }, admin)).status).toBe(400);
    }
    expect((await send("DELETE", "/v1/petnames/a", undefined, admin)).status).toBe(200);
    expect((await send("DELETE", "/v1/petnames/a", undefined, admin)).status).toBe(404);
    expect((await get("/v1/petnames/a")).status).toBe(404);
    const bulk = await send("PATCH", "/v1/petnames", { a: "A", b: "B" }, admin);
    expect(await bulk.json()).toEqual({ set: 2 });
    expect((await send("PATCH", "/v1/petnames", { c: "C", d: "" }, admin)).status).toBe(400);
    expect(await backend.petnames.get(["c"])).toEqual(new Map());
  });

  it("creates a one-time invitation, accepts it once, and refuses it after", async () => {
    const admin = await adminHeaders();
    const created = await send("POST", "/v1/invitations", { petname: "Guest", expires_in: "1h" }, admin);
    expect(created.status).toBe(201);
    const { code, expires_at } = (await created.json()) as { code: string; expires_at: string };
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(59 * 60_000);
    const accepted = await send("POST", "/v1/invitations/accept", { code }, admin);
    expect(accepted.status).toBe(201);
    const { account, petname } = (await accepted.json()) as { account: string; petname: string };
    expect(petname).toBe("Guest");
    expect(await backend.petnames.get([account])).toEqual(new Map([[account, "Guest"]]));
    const again = await send("POST", "/v1/invitations/accept", { code }, admin);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { message: string } }).error.message).toMatch(/already been used/);
    const unknown = await send("POST", "/v1/invitations/accept", { code: "tally-inv-nope" }, admin);
    expect(unknown.status).toBe(404);
  });
});
