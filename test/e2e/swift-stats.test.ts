// The swift-stats queries over a real `tally serve`, called with curl exactly as the seed's examples do (headers,
// and the query string with `;`), checked against sums computed here from the events that were sent, on SQLite and on
// PostgreSQL.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStore, killAll, removeDir, STORES, TallyServer, type TestStore, tempDir } from "./helpers.js";

const run = promisify(execFile);
const ACCOUNT = "7f6ae4f0f48c49bc8a1b4f8975d";
const HOUR = 3_600_000;
const at = (h: number, m = 0, s = 0) => Date.UTC(2012, 9, 22, h, m, s);

interface Sent {
  id: string;
  server: string;
  time: string;
  account: string;
  metric: string;
  value: string;
  instance?: string;
}

let dir: string;
let server: TallyServer;
let base: string;
let readToken: string;

const COUNTERS: Record<string, string> = {
  "bytes.in": "Bytes_In",
  "bytes.out": "Bytes_Out",
  "requests.delete": "DELETE",
  "requests.get": "GET",
  "requests.head": "HEAD",
  "requests.other": "OTHER",
  "requests.post": "POST",
  "requests.put": "PUT",
};
const LEVELS: Record<string, string> = {
  "storage.bytes": "Space",
  "storage.containers": "Container",
  "storage.files": "Object",
};

/** Events over 06:00–12:00 on two servers, two instances and two accounts; some values far beyond 2^53. */
function makeEvents(): Sent[] {
  const events: Sent[] = [];
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const metrics = Object.keys(COUNTERS);
  for (let i = 0; i < 400; i++) {
    const metric = metrics[random(metrics.length)] as string;
    const big = metric.startsWith("bytes.") && random(10) === 0;
    events.push({
      id: `c${i}`,
      server: random(2) === 0 ? "proxy-1" : "proxy-2",
      time: new Date(at(6) + random(6 * 3600) * 1000).toISOString(),
      account: random(5) === 0 ? "someone-else" : ACCOUNT,
      metric,
      value: big ? (2n ** 60n + BigInt(random(1000))).toString() : String(random(5000)),
    });
  }
  // Levels: a few readings per series, none at all in some hours, so the last level must be carried forward.
  const readings: [number, string, string, string, bigint][] = [
    [at(6, 30), "proxy-1", "storage.bytes", "c1", 1000n],
    [at(7, 10), "proxy-1", "storage.bytes", "c1", 9_007_199_254_740_993n],
    [at(8, 5), "proxy-2", "storage.bytes", "c2", 2n ** 70n],
    [at(8, 45), "proxy-1", "storage.bytes", "c1", 5000n],
    [at(9, 59, 59), "proxy-2", "storage.bytes", "c2", 2n ** 70n + 1n],
    [at(6, 0), "proxy-1", "storage.containers", "", 2n],
    [at(9, 15), "proxy-1", "storage.containers", "", 3n],
    [at(7, 0), "proxy-1", "storage.files", "c1", 10n],
    [at(8, 0), "proxy-2", "storage.files", "c2", 20n],
    [at(11, 0), "proxy-1", "storage.files", "c1", 11n],
  ];
  readings.forEach(([time, server, metric, instance, value], i) => {
    events.push({
      id: `l${i}`,
      server,
      time: new Date(time).toISOString(),
      account: ACCOUNT,
      metric,
      value: String(value),
      instance,
    });
  });
  events.push({
    id: "x",
    server: "proxy-1",
    time: new Date(at(8)).toISOString(),
    account: "someone-else",
    metric: "storage.bytes",
    value: "7",
  });
  return events;
}

const EVENTS = makeEvents();

function expectedIo(from: number, to: number): Map<number, Record<string, bigint>> {
  const hours = new Map<number, Record<string, bigint>>();
  for (const e of EVENTS) {
    const t = Date.parse(e.time);
    const field = COUNTERS[e.metric];
    if (!field || e.account !== ACCOUNT || t < from || t >= to) continue;
    const hour = t - (t % HOUR);
    const row = hours.get(hour) ?? Object.fromEntries(Object.values(COUNTERS).map((f) => [f, 0n]));
    row[field] = (row[field] ?? 0n) + BigInt(e.value);
    hours.set(hour, row);
  }
  return hours;
}

function expectedSpace(from: number, to: number): Map<number, Record<string, bigint>> {
  const hours = new Map<number, Record<string, bigint>>();
  for (let hour = from; hour < to; hour += HOUR) {
    const latest = new Map<string, { t: number; v: bigint; field: string }>();
    for (const e of EVENTS) {
      const t = Date.parse(e.time);
      const field = LEVELS[e.metric];
      // The level at the hour's start: the latest reading at or before it.
      if (!field || e.account !== ACCOUNT || t > hour) continue;
      const key = `${e.server}|${e.metric}|${e.instance ?? ""}`;
      if ((latest.get(key)?.t ?? -1) <= t) latest.set(key, { t, v: BigInt(e.value), field });
    }
    if (latest.size === 0) continue;
    const row: Record<string, bigint> = { Space: 0n, Container: 0n, Object: 0n };
    for (const { v, field } of latest.values()) row[field] = (row[field] ?? 0n) + v;
    hours.set(hour, row);
  }
  return hours;
}

const swiftTime = (t: number) => new Date(t).toISOString().slice(0, 19).replace("T", " ");

/** JSON.parse with every integer kept exact, as a decimal string. */
function parseExact(body: string): unknown {
  return JSON.parse(body.replace(/([:,[]\s*)(-?\d+)(?=\s*[,}\]])/g, '$1"$2"'));
}

function asStrings(rows: Map<number, Record<string, bigint>>): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [hour, row] of [...rows].sort((a, b) => a[0] - b[0])) {
    out[swiftTime(hour)] = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v.toString()]));
  }
  return out;
}

async function curl(...args: string[]): Promise<{ status: number; type: string; body: string }> {
  const { stdout } = await run("curl", ["-s", "-w", "\n%{http_code} %{content_type}", ...args]);
  const cut = stdout.lastIndexOf("\n");
  const [status, type] = stdout.slice(cut + 1).split(" ");
  return { status: Number(status), type: type ?? "", body: stdout.slice(0, cut) };
}

/** The seed's header example, with the token it sends. */
const seedHeaders = (method: string, format = "json", token = readToken) => [
  "-X",
  "GET",
  `${base}/${method}`,
  "-H",
  `X-Account-Id: ${ACCOUNT}`,
  "-H",
  "X-Begin-Time: 2012-10-22 08:00:00",
  "-H",
  "X-End-Time: 2012-10-22 10:00:00",
  "-H",
  `X-Format: ${format}`,
  "-H",
  `X-Auth-Token: ${token}`,
];

/** The seed's query-string form, pairs separated by `;`. */
const seedQuery = (method: string, format = "json") => [
  "-X",
  "GET",
  `${base}/${method}?account_id=${ACCOUNT};begin_time=2012-10-22%2008:00:00;end_time=2012-10-22%2010:00:00;format=${format}`,
  "-H",
  `X-Auth-Token: ${readToken}`,
];

describe.each(STORES)("on %s", (kind) => {
  let store: TestStore | undefined;

  beforeAll(async () => {
    dir = tempDir("swift-stats");
    store = await freshStore(kind);
    server = await TallyServer.start({ dataDir: dir, args: ["--no-local-reads", ...store.args] });
    base = server.url;
    const admin = server.token;
    const created = await fetch(`${base}/v1/tokens`, {
      method: "POST",
      headers: { "X-Auth-Token": admin, "Content-Type": "application/json" },
      body: JSON.stringify({ role: "read", note: "billing" }),
    });
    readToken = ((await created.json()) as { secret: string }).secret;
    const sent = await fetch(`${base}/v1/events`, {
      method: "POST",
      headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/x-ndjson" },
      body: EVENTS.map((e) => JSON.stringify(e)).join("\n"),
    });
    expect(await sent.json()).toEqual({ accepted: EVENTS.length, duplicates: 0, rejected: [] });
  });

  afterAll(async () => {
    await server?.stop();
    killAll();
    removeDir(dir);
    await store?.drop();
  });

  describe("swift-stats over curl, as in the seed", () => {
    const sum = () => {
      const total: Record<string, string> = {};
      const hours = expectedIo(at(8), at(10));
      for (const field of Object.values(COUNTERS).sort()) {
        total[field] = [...hours.values()].reduce((s, r) => s + (r[field] ?? 0n), 0n).toString();
      }
      return total;
    };
    const header = { Account_ID: ACCOUNT, "Begin Time": "2012-10-22 08:00:00", "End Time": "2012-10-22 10:00:00" };

    it("io_sum by headers and by query string gives the sums of the events sent", async () => {
      const byHeaders = await curl(...seedHeaders("io_sum"));
      expect(byHeaders.status).toBe(200);
      expect(byHeaders.type).toMatch(/^application\/json/);
      expect(parseExact(byHeaders.body)).toEqual([header, sum()]);
      // The keys come in the seed's order.
      expect(Object.keys((JSON.parse(byHeaders.body) as [unknown, object])[1])).toEqual([
        "Bytes_In",
        "Bytes_Out",
        "DELETE",
        "GET",
        "HEAD",
        "OTHER",
        "POST",
        "PUT",
      ]);
      const byQuery = await curl(...seedQuery("io_sum"));
      expect(byQuery.status).toBe(200);
      expect(byQuery.body).toBe(byHeaders.body);
      // Numbers beyond 2^53 are written whole.
      expect(
        BigInt((parseExact(byQuery.body) as [unknown, Record<string, string>])[1].Bytes_In as string),
      ).toBeGreaterThan(2n ** 53n);
    });

    it("io_detail gives the hours 08:00 and 09:00 (end_time is exclusive), each with the events of that hour", async () => {
      const res = await curl(...seedHeaders("io_detail"));
      expect(res.status).toBe(200);
      const expected = asStrings(expectedIo(at(8), at(10)));
      expect(Object.keys(expected)).toEqual(["2012-10-22 08:00:00", "2012-10-22 09:00:00"]);
      expect(parseExact(res.body)).toEqual([header, expected]);
      expect((await curl(...seedQuery("io_detail"))).body).toBe(res.body);
    });

    it("space_detail gives the level at each hour's start, summed over servers and instances", async () => {
      const res = await curl(...seedHeaders("space_detail"));
      expect(res.status).toBe(200);
      expect(parseExact(res.body)).toEqual([header, asStrings(expectedSpace(at(8), at(10)))]);
      expect((await curl(...seedQuery("space_detail"))).body).toBe(res.body);
      // Over a longer range, hours without any reading hold the last level.
      const wide = await curl(
        `${base}/space_detail?account_id=${ACCOUNT}&begin_time=2012-10-22T05:00:00Z&end_time=2012-10-22T13:00:00Z`,
        "-H",
        `X-Auth-Token: ${readToken}`,
      );
      expect((parseExact(wide.body) as unknown[])[1]).toEqual(asStrings(expectedSpace(at(5), at(13))));
    });

    it("GET / with X-Query-Method answers as the path form does", async () => {
      for (const method of ["io_sum", "io_detail", "space_detail"]) {
        const args = seedHeaders(method);
        args[2] = `${base}/`;
        const res = await curl(...args, "-H", `X-Query-Method: ${method}`);
        expect(res.status).toBe(200);
        expect(res.body).toBe((await curl(...seedHeaders(method))).body);
      }
    });

    it("answers the same numbers as well-formed XML", async () => {
      for (const method of ["io_sum", "io_detail", "space_detail"]) {
        const json = parseExact((await curl(...seedHeaders(method))).body) as [unknown, Record<string, unknown>];
        for (const res of [await curl(...seedHeaders(method, "xml")), await curl(...seedQuery(method, "xml"))]) {
          expect(res.status).toBe(200);
          expect(res.type).toMatch(/^application\/xml/);
          expect(wellFormed(res.body)).toBe(true);
          expect(res.body).toContain(`<${method}>`);
          expect(res.body).toContain(`<Account_ID>${ACCOUNT}</Account_ID>`);
          expect(res.body).toContain("<Begin_Time>2012-10-22 08:00:00</Begin_Time>");
          expect(xmlData(method, res.body)).toEqual(json[1]);
        }
      }
    });

    it.each([
      [
        "a missing account",
        ["-H", "X-Begin-Time: 2012-10-22 08:00:00", "-H", "X-End-Time: 2012-10-22 10:00:00"],
        /account_id/,
      ],
      [
        "a malformed time",
        ["-H", `X-Account-Id: ${ACCOUNT}`, "-H", "X-Begin-Time: 22/10/2012", "-H", "X-End-Time: 2012-10-22 10:00:00"],
        /begin_time/,
      ],
      [
        "begin after end",
        [
          "-H",
          `X-Account-Id: ${ACCOUNT}`,
          "-H",
          "X-Begin-Time: 2012-10-22 11:00:00",
          "-H",
          "X-End-Time: 2012-10-22 10:00:00",
        ],
        /begin_time .*after end_time/,
      ],
      [
        "an unknown format",
        [
          "-H",
          `X-Account-Id: ${ACCOUNT}`,
          "-H",
          "X-Begin-Time: 2012-10-22 08:00:00",
          "-H",
          "X-End-Time: 2012-10-22 10:00:00",
          "-H",
          "X-Format: yaml",
        ],
        /format/,
      ],
      [
        "a range over the maximum",
        [
          "-H",
          `X-Account-Id: ${ACCOUNT}`,
          "-H",
          "X-Begin-Time: 2011-10-22 08:00:00",
          "-H",
          "X-End-Time: 2012-10-22 10:00:00",
        ],
        /end_time .*366 days/,
      ],
    ])("answers 400 naming the parameter for %s", async (_what, args, message) => {
      const res = await curl("-X", "GET", `${base}/io_sum`, "-H", `X-Auth-Token: ${readToken}`, ...(args as string[]));
      expect(res.status).toBe(400);
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("VALIDATION");
      expect(body.error.message).toMatch(message);
    });

    it("answers 401 to the seed's request without a valid token", async () => {
      expect((await curl(...seedHeaders("io_sum", "json", "485f19b76eba47cb9d1cc6ceefc4ff99"))).status).toBe(401);
    });
  });
});

/** The data part of an XML answer, read back into the JSON shape with numbers as strings. */
function xmlData(method: string, xml: string): Record<string, unknown> {
  const data = /<data>([\s\S]*)<\/data>/.exec(xml)?.[1] ?? "";
  const fields = (text: string) =>
    Object.fromEntries([...text.matchAll(/<([A-Za-z_]+)>(\d+)<\/\1>/g)].map((m) => [m[1], m[2]]));
  if (method === "io_sum") return fields(data);
  return Object.fromEntries(
    [...data.matchAll(/<hour time="([^"]+)">([\s\S]*?)<\/hour>/g)].map((m) => [m[1], fields(m[2] ?? "")]),
  );
}

/** A small well-formedness check: one root, balanced tags, valid names, only the five entities, no stray < or &. */
function wellFormed(xml: string): boolean {
  const rest = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, "");
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let consumed = 0;
  for (let m = token.exec(rest); m !== null; m = token.exec(rest)) {
    consumed = token.lastIndex;
    const [, close, name, attrs, empty, text] = m;
    if (text !== undefined) {
      if (stack.length === 0 && text.trim() !== "") return false;
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(text)) return false;
      continue;
    }
    if (attrs && /&(?!(amp|lt|gt|quot|apos);)/.test(attrs)) return false;
    if (close) {
      if (stack.pop() !== name) return false;
    } else if (!empty) {
      if (stack.length === 0) roots++;
      stack.push(name as string);
    }
  }
  return consumed === rest.length && stack.length === 0 && roots === 1;
}
