// The swift-stats rules as its users read them, over a real `tally serve` on SQLite and on PostgreSQL: what each
// space_detail entry's instant means, ranges that do not fall on hours, one entry per hour on request, X-Query-Method
// against the path, and account ids without their reseller prefix.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStore, killAll, removeDir, STORES, TallyServer, type TestStore, tempDir } from "./helpers.js";

const at = (h: number, m = 0, s = 0) => new Date(Date.UTC(2012, 9, 22, h, m, s)).toISOString();

let n = 0;
const event = (account: string, metric: string, time: string, value: number, instance = "") => ({
  id: `r${n++}`,
  server: "proxy-1",
  time,
  account,
  metric,
  value: String(value),
  instance,
});

const EVENTS = [
  // AUTH_acme: bytes read at 07:30 and 08:30, files on the hour as an hourly scan stamps them, traffic in 08 and 10.
  event("AUTH_acme", "storage.bytes", at(7, 30), 100),
  event("AUTH_acme", "storage.bytes", at(8, 30), 200),
  event("AUTH_acme", "storage.files", at(7), 4),
  event("AUTH_acme", "storage.files", at(8), 5),
  event("AUTH_acme", "storage.files", at(10), 6),
  event("AUTH_acme", "requests.get", at(8, 10), 3),
  event("AUTH_acme", "requests.get", at(10, 50), 4),
  // An account without the prefix, and one that exists both ways.
  event("plain", "requests.put", at(8, 10), 1),
  event("both", "requests.put", at(8, 10), 7),
  event("AUTH_both", "requests.put", at(8, 10), 70),
];

/** Exact integers come back as strings, so that numbers are compared whole. */
function parseExact(body: string): unknown {
  return JSON.parse(body.replace(/([:,[]\s*)(-?\d+)(?=\s*[,}\]])/g, '$1"$2"'));
}

describe.each(STORES)("swift-stats rules on %s", (kind) => {
  let store: TestStore | undefined;
  let server: TallyServer;
  let dir: string;

  const get = async (path: string, headers: Record<string, string> = {}, token = server.token) => {
    const res = await fetch(`${server.url}${path}`, { headers: { "X-Auth-Token": token, ...headers } });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: res.status === 200 ? parseExact(text) : JSON.parse(text) };
  };
  const range = (account: string, begin: string, end: string) =>
    `account_id=${account}&begin_time=${encodeURIComponent(begin)}&end_time=${encodeURIComponent(end)}`;

  beforeAll(async () => {
    dir = tempDir("swift-stats-rules");
    store = await freshStore(kind);
    server = await TallyServer.start({ dataDir: dir, args: ["--no-local-reads", ...store.args] });
    expect(await server.postNdjson(EVENTS)).toEqual({ accepted: EVENTS.length, duplicates: 0, rejected: [] });
  });

  it("takes the reseller prefix from TALLY_SWIFT_RESELLER_PREFIX; empty, it answers account ids as given", async () => {
    const otherDir = tempDir("swift-stats-prefix");
    const otherStore = await freshStore(kind);
    try {
      for (const [prefix, expected] of [
        ["", "acme"],
        ["KEY_", "KEY_acme"],
      ] as const) {
        const other = await TallyServer.start({
          dataDir: otherDir,
          env: { TALLY_SWIFT_RESELLER_PREFIX: prefix },
          args: ["--no-local-reads", ...otherStore.args],
        });
        try {
          await other.postNdjson([
            event("AUTH_acme", "requests.get", at(8), 1),
            event("KEY_acme", "requests.get", at(8), 2),
          ]);
          const res = await fetch(`${other.url}/io_sum?${range("acme", at(8), at(9))}`, { headers: other.headers() });
          expect(res.status).toBe(200);
          expect(res.headers.get("X-Account-Id")).toBe(expected);
        } finally {
          await other.stop();
        }
      }
    } finally {
      removeDir(otherDir);
      await otherStore.drop();
    }
  });

  afterAll(async () => {
    await server?.stop();
    killAll();
    removeDir(dir);
    await store?.drop();
  });

  it("labels each space_detail entry with an instant and gives the latest reading at or before it", async () => {
    const res = await get(`/space_detail?${range("AUTH_acme", "2012-10-22 06:00:00", "2012-10-22 12:00:00")}`);
    expect(res.status).toBe(200);
    // Bytes read at 07:30 and 08:30 count from 08:00 and 09:00; files scanned at 07:00, 08:00 and 10:00 count then.
    expect((res.body as unknown[])[1]).toEqual({
      "2012-10-22 07:00:00": { Space: "0", Container: "0", Object: "4" },
      "2012-10-22 08:00:00": { Space: "100", Container: "0", Object: "5" },
      "2012-10-22 09:00:00": { Space: "200", Container: "0", Object: "5" },
      "2012-10-22 10:00:00": { Space: "200", Container: "0", Object: "6" },
      "2012-10-22 11:00:00": { Space: "200", Container: "0", Object: "6" },
    });
  });

  it("gives one entry per hour on request: io_detail with fill=zero, space_detail with fill=previous", async () => {
    const hours = ["06", "07", "08", "09", "10", "11"].map((h) => `2012-10-22 ${h}:00:00`);
    const sixHours = range("AUTH_acme", "2012-10-22 06:00:00", "2012-10-22 12:00:00");
    const io = await get(`/io_detail?${sixHours}&fill=zero`);
    expect(io.status).toBe(200);
    const ioData = (io.body as [unknown, Record<string, Record<string, string>>])[1];
    expect(Object.keys(ioData)).toEqual(hours);
    expect(Object.values(ioData).map((c) => c.GET)).toEqual(["0", "0", "3", "0", "4", "0"]);
    const space = await get(`/space_detail?${sixHours}`, { "X-Fill": "previous" });
    const spaceData = (space.body as [unknown, Record<string, Record<string, string>>])[1];
    expect(Object.keys(spaceData)).toEqual(hours);
    expect(spaceData["2012-10-22 06:00:00"]).toEqual({ Space: "0", Container: "0", Object: "0" });
    // Without fill, hours without traffic and instants before the first reading are left out, as before.
    const sparse = (await get(`/io_detail?${sixHours}`)).body as [unknown, object];
    expect(Object.keys(sparse[1])).toEqual(["2012-10-22 08:00:00", "2012-10-22 10:00:00"]);
    const wrong = await get(`/space_detail?${sixHours}&fill=zero`);
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { message: expect.stringMatching(/^fill .*previous/) } });
  });

  it("widens a range that does not fall on hours to the whole hours, and says so in the header", async () => {
    const res = await get(`/io_detail?${range("AUTH_acme", "2012-10-22 08:30:00", "2012-10-22 10:15:00")}`);
    expect(res.status).toBe(200);
    const [header, data] = res.body as [Record<string, string>, Record<string, Record<string, string>>];
    expect(header).toEqual({
      Account_ID: "AUTH_acme",
      "Begin Time": "2012-10-22 08:00:00",
      "End Time": "2012-10-22 11:00:00",
    });
    // The traffic of 08:10 and 10:50, which lie outside 08:30–10:15, is in: the whole hours were answered.
    expect(Object.keys(data)).toEqual(["2012-10-22 08:00:00", "2012-10-22 10:00:00"]);
  });

  it("answers an account_id without the reseller prefix for the prefixed one when only it is known", async () => {
    const ask = (account: string, token?: string) =>
      get(`/io_sum?${range(account, "2012-10-22 08:00:00", "2012-10-22 11:00:00")}`, {}, token);
    const answered = async (account: string, token?: string) => {
      const res = await ask(account, token);
      expect(res.status).toBe(200);
      const [header, data] = res.body as [Record<string, string>, Record<string, string>];
      // The response's X-Account-Id carries the account answered, percent-encoded.
      const name = decodeURIComponent(res.headers.get("X-Account-Id") ?? "");
      expect(header.Account_ID).toBe(name);
      return [name, data.GET, data.PUT];
    };
    expect(await answered("acme")).toEqual(["AUTH_acme", "7", "0"]);
    expect(await answered("AUTH_acme")).toEqual(["AUTH_acme", "7", "0"]);
    expect(await answered("plain")).toEqual(["plain", "0", "1"]);
    expect(await answered("both")).toEqual(["both", "0", "7"]);
    expect(await answered("zoë")).toEqual(["zoë", "0", "0"]);
    // A token for one account names it exactly, and is answered for it alone: AUTH_acme's usage is not looked at.
    const tokenFor = async (account: string) => {
      const res = await fetch(`${server.url}/v1/tokens`, {
        method: "POST",
        headers: server.headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ role: "account", account }),
      });
      return ((await res.json()) as { secret: string }).secret;
    };
    expect(await answered("acme", await tokenFor("acme"))).toEqual(["acme", "0", "0"]);
    expect(await answered("AUTH_acme", await tokenFor("AUTH_acme"))).toEqual(["AUTH_acme", "7", "0"]);
    expect((await ask("acme", await tokenFor("AUTH_acme"))).status).toBe(403);
  });

  it("answers 400 when X-Query-Method disagrees with the path, and as usual when it agrees", async () => {
    const path = `/io_sum?${range("AUTH_acme", "2012-10-22 08:00:00", "2012-10-22 10:00:00")}`;
    const wrong = await get(path, { "X-Query-Method": "space_detail" });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({
      error: { code: "VALIDATION", message: expect.stringMatching(/X-Query-Method/) },
    });
    const agreeing = await get(path, { "X-Query-Method": "io_sum" });
    expect(agreeing.status).toBe(200);
    expect((agreeing.body as [unknown, Record<string, string>])[1].GET).toBe("3");
  });
});
