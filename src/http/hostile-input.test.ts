// Hostile bytes through the HTTP app on both stores: bytes that are not UTF-8, NUL and other controls, forged
// cursors. Each is refused where it stands with the same reason on either store, and nothing else is lost.
// PostgreSQL must be reachable (TALLY_TEST_POSTGRES): these tests fail rather than skip without it.

import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createToken } from "../auth/create-token.js";
import type { Backend } from "../backend/backend.js";
import { openPostgresBackend } from "../backend/postgres.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createLogger } from "../log/logger.js";
import { createApp } from "./app.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

const backends: [string, () => Promise<Backend>][] = [
  ["sqlite", () => openSqliteBackend({ path: ":memory:", recentKeySlots: 1024 })],
  [
    "postgres",
    () =>
      openPostgresBackend({ url, schema: `tally_test_${randomUUID().replaceAll("-", "")}`, dropSchemaOnClose: true }),
  ],
];

interface IngestAnswer {
  accepted: number;
  duplicates: number;
  rejected: { index: number; id?: string; reason: string }[];
  rejected_omitted?: number;
}

const TIME = "2026-11-23T12:00:00Z";
const line = (fields: Record<string, unknown>) =>
  JSON.stringify({
    id: "e",
    server: "srv-1",
    time: TIME,
    account: "AUTH_a",
    metric: "requests.get",
    value: 1,
    ...fields,
  });
const bytes = (...parts: (string | number[] | Uint8Array)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));

describe.each(backends)("hostile input on %s", (_name, open) => {
  let store: Backend;
  let app: ReturnType<typeof createApp>;
  let token: string;

  beforeEach(async () => {
    store = await open();
    token = (await createToken(store.tokens, { role: "admin", account: null, servers: null, note: "" })).secret;
    app = createApp({
      backend: store,
      logger: createLogger("silent"),
      maxBodyBytes: 1 << 20,
      maxBatchEvents: 1_000,
      localReads: true,
      maxQueryDays: 366,
    });
  });
  afterEach(async () => {
    await store.close();
  });

  const post = async (body: Uint8Array | string, type = "application/x-ndjson") => {
    const res = await app.request("http://localhost/v1/events", {
      method: "POST",
      headers: { "content-type": type, "x-auth-token": token },
      body,
    });
    return { status: res.status, body: (await res.json()) as IngestAnswer & { error?: { message: string } } };
  };
  const requests = async (account: string) => {
    const rows = await store.usage.rollups({ account, metrics: ["requests.get"], from: 0, to: Date.UTC(2100, 0) });
    return rows.reduce((sum, r) => sum + Number(r.sum ?? 0n), 0);
  };

  it("ids that differ only in bytes that are not UTF-8 are refused, never merged into one", async () => {
    const raw = (id: number[], account: number[]) =>
      bytes(
        '{"id":"utf',
        id,
        '","server":"srv-1","time":"',
        TIME,
        '","account":"AUTH_',
        account,
        '",',
        '"metric":"requests.get","value":1}',
      );
    const body = bytes(
      raw([0xff], [0x61]),
      "\n",
      raw([0xfe], [0x61]),
      "\n",
      raw([0x61], [0xff]),
      "\n",
      raw([0x62], [0xfe]),
    );
    const answer = await post(body);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      accepted: 0,
      duplicates: 0,
      rejected: [
        { index: 0, reason: "id holds bytes that are not UTF-8" },
        { index: 1, reason: "id holds bytes that are not UTF-8" },
        { index: 2, id: "utfa", reason: "account holds bytes that are not UTF-8" },
        { index: 3, id: "utfb", reason: "account holds bytes that are not UTF-8" },
      ],
    });
    // U+FFFD sent as such is text like any other, and nothing from the refused lines took its place.
    const fffd = await post(`${line({ id: "utf\uFFFD" })}\n${line({ id: "utfa", account: "AUTH_\uFFFD" })}`);
    expect(fffd.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: [] });
  });

  it("NUL and other controls in ids, accounts, servers and instances refuse that event alone, with one reason", async () => {
    const answer = await post(
      [
        line({ id: "good-1" }),
        line({ id: "nul\u0000" }),
        line({ id: "n2", account: "AUTH_\u0000" }),
        line({ id: "n3", server: "srv\u0000" }),
        line({ id: "n4", instance: "b\u0000" }),
        line({ id: "n5", account: "AUTH_\u202Ea" }),
        line({ id: "n6", dims: { site: "x\u0000" } }),
        line({ id: "good-2" }),
      ].join("\n"),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.accepted).toBe(2);
    expect(answer.body.rejected.map((r) => r.reason)).toEqual([
      "id holds U+0000, a control or invisible formatting character",
      "account holds U+0000, a control or invisible formatting character",
      "server holds U+0000, a control or invisible formatting character",
      "instance holds U+0000, a control or invisible formatting character",
      "account holds U+202E, a control or invisible formatting character",
      "dims.site holds U+0000, a control or invisible formatting character",
    ]);
    expect(await requests("AUTH_a")).toBe(2);
  });

  it("a batch with more lines than the limit is a 413 and stores nothing", async () => {
    const answer = await post(Array.from({ length: 1_001 }, (_, i) => line({ id: `l${i}` })).join("\n"));
    expect(answer.status).toBe(413);
    expect(answer.body.error?.message).toMatch(/more than 1000 lines; one request takes at most 1000/);
    expect(await requests("AUTH_a")).toBe(0);
  });

  it("lists at most a thousand rejections, counts the rest, and cuts long ids", async () => {
    const longId = "x".repeat(10_000);
    const body = [line({ id: longId }), ...Array.from({ length: 999 }, (_, i) => line({ id: `n${i}`, value: -1 }))];
    const small = await post(body.join("\n"));
    expect(small.body.rejected).toHaveLength(1_000);
    expect(small.body.rejected_omitted).toBeUndefined();
    expect(small.body.rejected[0]?.id).toBe(`${"x".repeat(256)}…`);
    const json = await post(`[${Array.from({ length: 1_000 }, () => "{}").join(",")}]`, "application/json");
    expect(json.status).toBe(200);
    expect(json.body.rejected).toHaveLength(1_000);
  });

  it.each([
    "/usage?q=%00",
    "/usage?format=json&q=a%00b",
    "/usage?server=s%00",
    "/usage?account=%00",
    "/usage?accounts=a,%01",
    "/usage/accounts/AUTH_%00",
    "/usage?q=%FF",
    "/io_sum?account_id=%00&start_time=2026-11-01&end_time=2026-11-02",
    "/v1/petnames/a%00",
  ])("%s is a 400 naming what was wrong, as JSON", async (path) => {
    const res = await app.request(`http://localhost${path}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("VALIDATION");
    expect(body.error.message).toMatch(
      /^the (path|query parameter "\w+") (holds U\+00(00|01), a control character|is not valid percent-encoded UTF-8)$/,
    );
  });

  it("a forged cursor is a 400 in the format asked for, whatever it holds", async () => {
    await post(line({ id: "a", metric: "storage.bytes", value: 5 }));
    const forge = (body: object) => Buffer.from(JSON.stringify(body)).toString("base64url");
    for (const cursor of [
      forge({ s: "total", m: "storage.bytes", v: "5", a: "AUTH_a", n: "1:1:", t: 9e15 }),
      forge({ s: "total", m: "storage.bytes", v: "5", a: "AUTH_a", n: "1:1:", t: -9e15 }),
      forge({ s: "total", m: "storage.bytes", v: "5", a: "AUTH_\u0000" }),
      forge({ s: "total", m: "storage.bytes", v: "5", a: "AUTH_a", n: "\u0000", t: 0 }),
    ]) {
      const res = await app.request(`http://localhost/usage?format=json&after=${cursor}`);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({
        error: { code: "VALIDATION", message: "the cursor is not one this table gave out" },
      });
    }
    for (const [path, type] of [
      ["/usage?format=json&limit=0", /^application\/json/],
      ["/usage?format=csv&limit=0", /^application\/json/],
      ["/usage?limit=0", /^text\/html/],
    ] as const) {
      const res = await app.request(`http://localhost${path}`);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(type);
    }
  });

  it("fuzzed bodies: what is stored is exactly what was accepted, and no answer is a 5xx", async () => {
    const good = fc.record({ id: fc.constantFrom("a", "b", "c", "d", "e", "f"), server: fc.constantFrom("s1", "s2") });
    const hostile = fc.constantFrom<number[]>([0xff], [0xfe], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0x00], [0x0a], [0x80]);
    const piece = fc.oneof(
      good.map(({ id, server }) => Buffer.from(line({ id, server }))),
      fc.tuple(good, hostile, fc.constantFrom("id", "account", "server")).map(([{ id, server }, bad, field]) => {
        const text = line({ id, server, [field]: "@@" });
        const [before, after] = text.split("@@") as [string, string];
        return bytes(before, bad, after);
      }),
      fc
        .tuple(good, fc.constantFrom("\u0000", "\u001b", "\u202e", "\ud800", "\uFFFD"))
        .map(([{ id, server }, c]) => Buffer.from(line({ id: `${id}${c}`, server }))),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { minLength: 1, maxLength: 12 }),
        fc.constantFrom("application/x-ndjson", "application/json"),
        async (pieces, type) => {
          const body =
            type === "application/json"
              ? bytes("[", ...pieces.flatMap((p, i) => (i === 0 ? [p] : [",", p])), "]")
              : bytes(...pieces.flatMap((p, i) => (i === 0 ? [p] : ["\n", p])));
          const answer = await post(body, type);
          expect(answer.status === 200 || answer.status === 400).toBe(true);
          if (answer.status === 200) accepted += answer.body.accepted;
        },
      ),
      { numRuns: 60, seed: 4242 },
    );
    const stats = await store.maintenance.stats();
    expect(stats.events).toBe(accepted);
    const servers = await store.usage.servers();
    expect(servers.reduce((sum, s) => sum + s.events, 0)).toBe(accepted);
  });
});
