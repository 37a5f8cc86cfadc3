// The usage view over a real `tally serve`: the table in JSON, CSV and HTML, paging while events arrive,
// petnames and invitations through the CLI (on SQLite and on PostgreSQL), and the demo's separate data directory.

import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  freshStore,
  goodEvent,
  killAll,
  removeDir,
  runTally,
  STORES,
  type StoreKind,
  TallyServer,
  type TestStore,
  tempDir,
} from "./helpers.js";

interface UsageJson {
  as_of: string;
  metric: string;
  servers: { id: string; name: string; last_heard: string | null; stale: boolean }[];
  rows: { account: string; petname: string | null; by_server: Record<string, string>; total: string }[];
  totals: { by_server: Record<string, string>; total: string };
  next: string | null;
}

const SERVERS = ["srv-a", "srv-b", "srv-c"];
const ACCOUNTS = 240;

/** Account i holds i * 1000 + s bytes on each server s it is on (every account is on srv-a). */
function storageEvents(round: number, accounts = ACCOUNTS, prefix = "acct"): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < accounts; i++) {
    SERVERS.forEach((server, s) => {
      if (s > 0 && i % (s + 1) !== 0) return;
      events.push(
        goodEvent({
          server,
          account: `${prefix}-${String(i).padStart(4, "0")}`,
          metric: "storage.bytes",
          value: String(BigInt(i) * 1000n + BigInt(s) + BigInt(round)),
          time: new Date(Date.now() - 1000).toISOString(),
        }),
      );
    });
  }
  return events;
}

/** What storageEvents(0) stores, as [account, {server: bytes}, total], largest total first. */
function model(): [string, Record<string, string>, bigint][] {
  const rows: [string, Record<string, string>, bigint][] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const cells: Record<string, string> = {};
    let total = 0n;
    SERVERS.forEach((server, s) => {
      if (s > 0 && i % (s + 1) !== 0) return;
      const v = BigInt(i) * 1000n + BigInt(s);
      cells[server] = v.toString();
      total += v;
    });
    rows.push([`acct-${String(i).padStart(4, "0")}`, cells, total]);
  }
  return rows.sort((a, b) => (a[2] === b[2] ? (a[0] < b[0] ? -1 : 1) : a[2] > b[2] ? -1 : 1));
}

let tally: TallyServer;
let dir: string;

/**
 * A snapshot token its store no longer keeps, made from a current one: on SQLite the first snapshot ever taken, long
 * pruned; on PostgreSQL the same snapshot said to be taken two hours ago (its token starts with the time, in hex).
 */
function staleSnapshot(kind: StoreKind, token: string): string {
  if (kind === "sqlite") return "1";
  const [prefix, taken, ...rest] = token.split(".");
  expect(prefix).toBe("s");
  return [prefix, (BigInt(`0x${taken}`) - 2n * 3_600_000n).toString(16), ...rest].join(".");
}

async function usage(query: string): Promise<UsageJson> {
  const res = await tally.get(`/usage?format=json&${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as UsageJson;
}

describe.each(STORES)("on %s", (kind) => {
  let store: TestStore | undefined;

  beforeAll(async () => {
    dir = tempDir("usage");
    store = await freshStore(kind);
    tally = await TallyServer.start({ dataDir: dir, args: store.args });
    const out = await tally.postNdjson(storageEvents(0));
    expect(out.rejected).toEqual([]);
  });

  afterAll(async () => {
    await tally?.stop();
    killAll();
    if (dir) removeDir(dir);
    await store?.drop();
  });

  describe("GET /usage", () => {
    it("answers the table as JSON: accounts by servers, exact totals, servers last heard", async () => {
      const json = await usage("limit=3");
      expect(json.metric).toBe("storage.bytes");
      expect(json.servers.map((s) => [s.id, s.stale])).toEqual(SERVERS.map((s) => [s, false]));
      const expected = model();
      expect(json.rows).toEqual(
        expected.slice(0, 3).map(([account, cells, total]) => ({
          account,
          petname: null,
          by_server: cells,
          total: total.toString(),
        })),
      );
      expect(json.rows[0]).toEqual({
        account: "acct-0234",
        petname: null,
        by_server: { "srv-a": "234000", "srv-b": "234001", "srv-c": "234002" },
        total: "702003",
      });
      expect(json.totals.total).toBe(expected.reduce((sum, r) => sum + r[2], 0n).toString());
      expect(json.next).toEqual(expect.any(String));
    });

    it("answers the same data as CSV and as an HTML page", async () => {
      const csv = await fetch(`${tally.url}/usage?format=csv&limit=2`, { headers: tally.headers() });
      expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
      expect((await csv.text()).split("\r\n").slice(0, 3)).toEqual([
        "account,petname,srv-a,srv-b,srv-c,total",
        "acct-0234,,234000,234001,234002,702003",
        "acct-0228,,228000,228001,228002,684003",
      ]);
      const page = await fetch(`${tally.url}/usage?limit=2`, { headers: tally.headers({ Accept: "text/html" }) });
      const html = await page.text();
      expect(html).toContain("<table");
      expect(html).toContain('<td class="total" title="702,003 bytes">');
      expect(html).toContain('href="/usage/accounts/acct-0234"');
      expect(html).toMatch(/rel="next" href="\/usage\?limit=2&amp;after=/);
    });

    it("pages through every account exactly once while events arrive (sort=account)", async () => {
      const seen: string[] = [];
      let after: string | null = null;
      let round = 0;
      do {
        const json: UsageJson = await usage(`sort=account&limit=37${after ? `&after=${after}` : ""}`);
        seen.push(...json.rows.map((r) => r.account));
        after = json.next;
        // Between pages: every account's usage changes, and new accounts appear before and after the cursor.
        round++;
        await tally.postNdjson([...storageEvents(round), ...storageEvents(round, 3, `new${round}`)]);
      } while (after);
      const original = seen.filter((a) => a.startsWith("acct-"));
      expect(original).toHaveLength(ACCOUNTS);
      expect(new Set(seen).size).toBe(seen.length);
    });

    it("pages by total through the table as it was at the first page, while every account changes", async () => {
      const whole = await usage("limit=10000");
      const pages: UsageJson[] = [];
      let after: string | null = null;
      let round = 100;
      do {
        const json: UsageJson = await usage(`limit=50${after ? `&after=${encodeURIComponent(after)}` : ""}`);
        pages.push(json);
        after = json.next;
        round++;
        // Every account's usage moves (so totals reorder), and new accounts appear.
        await tally.postNdjson([...storageEvents(round * 7), ...storageEvents(round, 2, `late${round}`)]);
      } while (after);
      expect(pages.length).toBeGreaterThan(3);
      expect(pages.flatMap((p) => p.rows)).toEqual(whole.rows);
      for (const page of pages) {
        expect(page.as_of).toBe(pages[0]?.as_of);
        expect(page.totals).toEqual(whole.totals);
      }
      const now = await usage("limit=1");
      expect(now.rows[0]?.total).not.toBe(whole.rows[0]?.total);
    });

    it("answers 410 for a cursor whose snapshot the store no longer keeps", async () => {
      const first = await usage("limit=5");
      const body = JSON.parse(Buffer.from(first.next as string, "base64url").toString()) as { n: string };
      const stale = Buffer.from(JSON.stringify({ ...body, n: staleSnapshot(kind, body.n) })).toString("base64url");
      const res = await tally.get(`/usage?format=json&limit=5&after=${stale}`);
      expect(res.status).toBe(410);
      expect(JSON.stringify(res.body)).toMatch(/expired.*start again from the first page/);
    });

    it("answers a subset of 10,000 accounts with long ids named in the query", async () => {
      const names = Array.from({ length: 10_000 }, (_, i) =>
        i < ACCOUNTS ? `acct-${String(i).padStart(4, "0")}` : `missing-${"x".repeat(32)}-${i}`,
      );
      const json = await usage(`accounts=${names.join(",")}&limit=1000`);
      expect(json.rows).toHaveLength(ACCOUNTS);
      expect(json.next).toBeNull();
    });
  });

  describe("petnames and invitations from the CLI", () => {
    it("sets, imports and removes petnames through the running server, shown in the table", async () => {
      const flags = ["--url", tally.url, "--data", dir];
      const set = await runTally(["petname", "set", "acct-0001", "Ada <Lovelace>", ...flags]);
      expect(set.stderr).toBe("");
      expect(set.code).toBe(0);
      const file = path.join(dir, "names.csv");
      fs.writeFileSync(file, 'account,name\nacct-0002,"Grace, Hopper"\nacct-0003,Linus\n');
      const imported = await runTally(["petname", "import", file, ...flags]);
      expect(imported.stdout).toBe("imported 2 petnames\n");
      const json = await usage("accounts=acct-0001,acct-0002,acct-0003&sort=account");
      expect(json.rows.map((r) => r.petname)).toEqual(["Ada <Lovelace>", "Grace, Hopper", "Linus"]);
      expect((await usage("q=hopper")).rows.map((r) => r.account)).toEqual(["acct-0002"]);
      expect((await runTally(["petname", "rm", "acct-0003", ...flags])).code).toBe(0);
      const again = await runTally(["petname", "rm", "acct-0003", ...flags]);
      expect(again.code).toBe(4);
      expect(again.stderr).toMatch(/has no petname/);
      const bad = await runTally(["petname", "set", "acct-0004", "x".repeat(101), ...flags]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/longer than 100/);
    });

    it("creates an invitation whose code works once and names the new account", async () => {
      const created = await runTally([
        "invite",
        "create",
        "--petname",
        "Friend of Ada",
        "--url",
        tally.url,
        "--data",
        dir,
      ]);
      expect(created.code).toBe(0);
      const code = created.stdout.trim();
      expect(code).toMatch(/^tally-inv-/);
      expect(created.stderr).toMatch(/usable once until/);
      const accept = () =>
        fetch(`${tally.url}/v1/invitations/accept`, {
          method: "POST",
          headers: tally.headers({ "Content-Type": "application/json" }),
          body: JSON.stringify({ code }),
        });
      const first = await accept();
      expect(first.status).toBe(201);
      const { account, petname } = (await first.json()) as { account: string; petname: string };
      expect(petname).toBe("Friend of Ada");
      const named = await tally.get(`/v1/petnames/${account}`);
      expect(named.body).toEqual({ account, petname: "Friend of Ada" });
      const second = await accept();
      expect(second.status).toBe(409);
      expect(((await second.json()) as { error: { message: string } }).error.message).toMatch(/already been used/);
    });
  });
});

describe("tally serve --demo", () => {
  it("serves simulated data, marked as demo, from a directory real data never shares", async () => {
    const demoDir = tempDir("demo");
    const demo = await TallyServer.start({ dataDir: demoDir, args: ["--demo"] });
    try {
      expect(fs.existsSync(path.join(demoDir, "DEMO"))).toBe(true);
      let rows = 0;
      for (let i = 0; i < 100 && rows === 0; i++) {
        const res = await fetch(`${demo.url}/usage?format=json`, { headers: demo.headers() });
        expect(res.headers.get("x-tally-demo")).toBe("true");
        rows = ((await res.json()) as UsageJson).rows.length;
        if (rows === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(rows).toBeGreaterThan(0);
      const page = await (await fetch(`${demo.url}/usage`, { headers: demo.headers() })).text();
      expect(page).toContain("Demo data");
    } finally {
      await demo.stop();
    }
    // A real serve refuses the demo directory; a demo refuses a real one.
    const real = await runTally(["serve", "--listen", "127.0.0.1:0", "--data", demoDir]);
    expect(real.code).toBe(2);
    expect(real.stderr).toMatch(/holds demo data/);
    const realDir = tempDir("real");
    const ingested = await runTally(["ingest", "-", "--data", realDir], { input: JSON.stringify(goodEvent()) });
    expect(ingested.code).toBe(0);
    const intoReal = await runTally(["serve", "--demo", "--listen", "127.0.0.1:0", "--data", realDir]);
    expect(intoReal.code).toBe(2);
    expect(intoReal.stderr).toMatch(/not a demo directory/);
    removeDir(demoDir);
    removeDir(realDir);
  });
});
