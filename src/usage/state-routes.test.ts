// GET /usage/states over createApp with an in-memory store: which accounts have a state on, per server.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createToken } from "../auth/create-token.js";
import type { Backend } from "../backend/backend.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import type { UsageEvent } from "../domain/event.js";
import { createApp } from "../http/app.js";
import { createLogger } from "../log/logger.js";
import { event } from "../store/contract-events.js";

let backend: Backend;
let app: ReturnType<typeof createApp>;

beforeEach(async () => {
  backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 1024 });
  app = createApp({
    backend,
    logger: createLogger("silent"),
    maxBodyBytes: 1 << 20,
    localReads: true,
    maxQueryDays: 366,
  });
});
afterEach(async () => {
  await backend.close();
});

const get = (path: string, headers: Record<string, string> = {}) => app.request(`http://localhost${path}`, { headers });
const getJson = async (path: string) => {
  const res = await get(path);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};

let ids = 0;
const state = (server: string, account: string, value: bigint, more: Partial<UsageEvent> = {}) =>
  event({ id: `e${ids++}`, server, account, metric: "vm.running", kind: "state", value, ...more });

/** a: on at s1 (two instances), off at s2; b: turned off at s1; c: on at s2. */
async function seed(): Promise<void> {
  await backend.events.insertEvents([
    state("s1", "a", 1n),
    state("s1", "a", 1n, { instance: "vm-2" }),
    state("s2", "a", 0n),
    state("s1", "b", 1n),
    state("s1", "b", 0n, { time: event({ id: "x" }).time + 60_000 }),
    state("s2", "c", 1n),
    event({ id: "level", server: "s3", account: "d", metric: "storage.bytes", kind: "level", value: 5n }),
  ]);
  await backend.petnames.set([{ account: "c", name: "Cee" }]);
}

describe("GET /usage/states", () => {
  it("answers per account and server how many instances are on, from the latest readings, as JSON", async () => {
    await seed();
    const json = await getJson("/usage/states?metric=vm.running&format=json");
    expect(Number.isNaN(Date.parse(json.as_of as string))).toBe(false);
    expect({ ...json, as_of: undefined }).toEqual({
      as_of: undefined,
      metric: "vm.running",
      servers: ["s1", "s2"],
      rows: [
        { account: "a", petname: null, on_by_server: { s1: 2, s2: 0 } },
        { account: "b", petname: null, on_by_server: { s1: 0 } },
        { account: "c", petname: "Cee", on_by_server: { s2: 1 } },
      ],
      totals: { accounts_on_by_server: { s1: 1, s2: 1 } },
      next: null,
    });
  });

  it("answers the same as CSV and as an HTML page, and keeps to the accounts and servers asked for", async () => {
    await seed();
    const csv = await get("/usage/states?metric=vm.running", { Accept: "text/csv" });
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await csv.text()).toBe("account,petname,s1,s2\r\na,,2,0\r\nb,,0,\r\nc,Cee,,1\r\n,(accounts on),1,1\r\n");
    const page = await get("/usage/states?metric=vm.running", { Accept: "text/html" });
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const text = await page.text();
    expect(text).toContain("<h1>vm.running per account and server</h1>");
    expect(text).toContain("<td>on (2 instances)</td>");
    expect(text).toContain('<td class="muted">off</td>');
    const some = await getJson("/usage/states?metric=vm.running&format=json&accounts=a,c&server=s2");
    expect(some.rows).toEqual([
      { account: "a", petname: null, on_by_server: { s2: 0 } },
      { account: "c", petname: "Cee", on_by_server: { s2: 1 } },
    ]);
  });

  it("pages by account with limit and after, each account once", async () => {
    await seed();
    const first = await get("/usage/states?metric=vm.running&format=json&limit=2");
    const json = (await first.json()) as { rows: { account: string }[]; next: string | null };
    expect(json.rows.map((r) => r.account)).toEqual(["a", "b"]);
    expect(json.next).toBe("b");
    expect(first.headers.get("link")).toContain("after=b");
    const second = await getJson(`/usage/states?metric=vm.running&format=json&limit=2&after=${json.next}`);
    expect((second.rows as { account: string }[]).map((r) => r.account)).toEqual(["c"]);
    expect(second.next).toBeNull();
  });

  it("refuses a missing metric, a level, a counter and an unknown one, naming it and listing the state metrics", async () => {
    await seed();
    const cases = [
      ["", "metric is missing: name a state metric, such as metric=power.on"],
      [
        "metric=storage.bytes",
        'metric "storage.bytes" is a level, not a state (see /usage?metric=storage.bytes); ' +
          "the states view shows state metrics: vm.running",
      ],
      [
        "metric=requests.get",
        'metric "requests.get" is a counter, not a state; the states view shows state metrics: vm.running',
      ],
      [
        "metric=nope.x",
        'metric "nope.x" is neither built in nor stored; the states view shows state metrics: vm.running',
      ],
      ["metric=vm.running&limit=0", "limit must be a whole number from 1 to 10000"],
      ["metric=vm.running&format=xml", 'format must be html, json or csv, not "xml"'],
    ] as const;
    for (const [query, message] of cases) {
      for (const headers of [{ Accept: "application/json" }, { Accept: "text/csv" }]) {
        const res = await get(`/usage/states?${query}`, headers);
        expect(res.status, query).toBe(400);
        expect(await res.json()).toEqual({ error: { code: "VALIDATION", message } });
      }
      const page = await get(`/usage/states?${query}`, { Accept: "text/html" });
      expect(page.status, query).toBe(400);
      expect(await page.text()).toContain(message.replaceAll('"', "&quot;"));
    }
  });

  it("says when no state metric is stored yet", async () => {
    const res = await get("/usage/states?metric=vm.running&format=json");
    expect(await res.json()).toEqual({
      error: {
        code: "VALIDATION",
        message:
          'metric "vm.running" is neither built in nor stored; the states view shows state metrics: none is stored yet',
      },
    });
  });

  it("is for tokens that read every account: an account token is refused", async () => {
    await seed();
    const { secret } = await createToken(backend.tokens, { role: "account", account: "a", servers: null, note: "" });
    const res = await get("/usage/states?metric=vm.running&format=json", { "X-Auth-Token": secret });
    expect(res.status).toBe(403);
  });
});
