// StAR records through the real binary: import over HTTP and the command line, the imported usage in /usage and
// swift-stats, export over HTTP and the command line (same ids), on SQLite and on PostgreSQL.

import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseStarDocument } from "../../src/records/parse-star.js";
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

const NS = "http://eu-emi.eu/namespaces/2011/02/storagerecord";
const SAMPLES = path.join(import.meta.dirname, "../../src/records/star-samples");
const dirs: string[] = [];
const stores: TestStore[] = [];
afterAll(async () => {
  killAll();
  for (const dir of dirs) removeDir(dir);
  for (const store of stores) await store.drop();
});

const record = (id: string, start: string, end: string, used: string, extra = "") =>
  `<sr:StorageUsageRecord><sr:RecordIdentity sr:createTime="2026-01-05T00:00:00Z" sr:recordId="${id}"/>
   <sr:StorageSystem>se.example.org</sr:StorageSystem><sr:Site>EXAMPLE</sr:Site><sr:StorageMedia>disk</sr:StorageMedia>
   <sr:SubjectIdentity><sr:LocalUser>AUTH_x</sr:LocalUser></sr:SubjectIdentity>${extra}
   <sr:StartTime>${start}</sr:StartTime><sr:EndTime>${end}</sr:EndTime>
   <sr:ResourceCapacityUsed>${used}</sr:ResourceCapacityUsed></sr:StorageUsageRecord>`;
const document = (...records: string[]) =>
  `<sr:StorageUsageRecords xmlns:sr="${NS}">${records.join("")}</sr:StorageUsageRecords>`;

/** `tally records publish --once` of yesterday into `queue`, and the messages the queue then holds. */
async function publishOnce(queue: string, args: readonly string[]) {
  const publish = await runTally([
    "records",
    "publish",
    "--dir",
    queue,
    "--every",
    "1d",
    "--once",
    "--delay",
    "0",
    ...args,
  ]);
  const messages = fs
    .readdirSync(queue, { recursive: true })
    .map(String)
    .filter((f) => /^[0-9a-f]{8}\/[0-9a-f]{14}$/.test(f));
  return { publish, messages };
}

describe.each(STORES)("StAR records on %s", (kind: StoreKind) => {
  it("imports over HTTP, shows the usage, exports it over HTTP and the command line", async () => {
    const dir = tempDir("records");
    dirs.push(dir);
    const store = await freshStore(kind);
    stores.push(store);
    const starConfig = path.join(dir, "star.yaml");
    fs.writeFileSync(starConfig, "site: HOME\naccounts:\n  AUTH_y: {group: cms, role: production}\n");
    const server = await TallyServer.start({
      dataDir: path.join(dir, "data"),
      args: [...store.args, "--star-config", starConfig],
    });
    const post = (
      body: string,
      headers: Record<string, string> = server.headers({ "content-type": "application/xml" }),
    ) => fetch(`${server.url}/v1/records/star`, { method: "POST", headers, body });
    const big = (2n ** 100n).toString();
    const res = await post(
      document(
        record("d1", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "1000"),
        record("d2", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", big),
        record("bad", "2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z", "1"),
      ),
    );
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { problems: unknown[] };
    expect(answer).toMatchObject({ records: 3, imported: 2, rejected: 1 });
    expect(answer.problems).toEqual([
      { record: 'record "bad" (line 9)', status: "rejected", reason: "EndTime is before StartTime" },
    ]);
    expect((await post(document(), {})).status).toBe(401);
    expect((await post("<x", server.headers({ "content-type": "application/xml" }))).status).toBe(400);
    expect((await post(document(), server.headers({ "content-type": "application/json" }))).status).toBe(415);

    const usage = await server.get("/usage?format=json&at=2026-01-01T12:00");
    expect(usage.status).toBe(200);
    const row = (usage.body as { rows: { account: string; total: string }[] }).rows.find((r) => r.account === "AUTH_x");
    expect(row?.total).toBe("1000");
    const space = await server.get(
      "/space_detail?account_id=AUTH_x&begin_time=2026-01-01%2023:00:00&end_time=2026-01-02%2001:00:00",
    );
    expect(space.body).toEqual([
      expect.anything(),
      {
        "2026-01-01 23:00:00": { Space: 1000, Container: 0, Object: 0 },
        "2026-01-02 00:00:00": { Space: expect.anything(), Container: 0, Object: 0 },
      },
    ]);

    const xml = await fetch(`${server.url}/v1/records/star?from=2026-01-01&to=2026-01-03`, {
      headers: server.headers(),
    });
    expect(xml.status).toBe(200);
    expect(xml.headers.get("content-type")).toMatch(/^application\/xml/);
    const exported = parseStarDocument(Buffer.from(await xml.text()));
    expect(exported.map((r) => [r.problems, r.record?.startTime, r.record?.resourceCapacityUsed])).toEqual([
      [[], Date.UTC(2026, 0, 1), 1000n],
      [[], Date.UTC(2026, 0, 2), BigInt(big)],
    ]);
    expect(exported[0]?.record).toMatchObject({ storageSystem: "se.example.org", subject: { localUser: "AUTH_x" } });
    const json = await server.get("/v1/records/star?from=2026-01-01&to=2026-01-02&format=star-json&capacity=average");
    expect(json.body).toMatchObject({ StorageUsageRecords: [{ ResourceCapacityUsed: "1000" }] });
    const bad = await server.get("/v1/records/star?from=2026-01-01T01:00:00Z&to=2026-01-02");
    expect(bad.status).toBe(400);
    expect((bad.body as { error: { message: string } }).error.message).toBe(
      "from must fall on a day boundary (00:00 UTC) for period day",
    );
    const summary = await fetch(
      `${server.url}/v1/records/summary?from=2026-01-01&to=2026-01-03&by=site,system&format=csv`,
      {
        headers: server.headers(),
      },
    );
    expect(summary.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await summary.text()).toBe(
      "site,system,records,resource_capacity_used,logical_capacity_used,resource_capacity_allocated,file_count\n" +
        `EXAMPLE,se.example.org,2,${(1000n + 2n ** 100n) / 2n},0,0,0\n`,
    );
    // Publishing through the running server: yesterday's records, one message in the queue.
    const queue = path.join(dir, "outgoing");
    const { publish, messages } = await publishOnce(queue, ["--url", server.url, "--data", path.join(dir, "data")]);
    expect(publish.code).toBe(0);
    expect(messages).toHaveLength(1);
    expect(publish.stdout).toBe(`published ${path.join(queue, messages[0] as string)}\n`);
    expect(parseStarDocument(fs.readFileSync(path.join(queue, messages[0] as string)))).toEqual([]);
    server.signal("SIGTERM");
    await server.exited;

    // The command line, on the same store: the same records, with the same ids.
    const args = ["--data", path.join(dir, "data"), ...store.args, "--star-config", starConfig];
    const cli = await runTally(["records", "export", "--from", "2026-01-01", "--to", "2026-01-03", ...args]);
    expect(cli.code).toBe(0);
    const again = parseStarDocument(Buffer.from(cli.stdout));
    expect(again.map((r) => r.record?.recordId)).toEqual(exported.map((r) => r.record?.recordId));
    const files = fs
      .readdirSync(SAMPLES)
      .map((f) => path.join(SAMPLES, f))
      .filter((f) => f.endsWith(".xml"));
    const imported = await runTally(["import", "star", ...files, ...args]);
    expect(imported.code).toBe(2);
    expect(imported.stdout).toContain(
      "apel-test_star_parser-group-attribute-collection.xml: 4 records: 4 imported, 0 replaced, 0 unchanged, 0 older than imported, 0 rejected",
    );
    expect(imported.stderr).toMatch(
      /sgas-srsampledata-SR_0-collection-measuretime-draft.xml: record "host.example.org\/sr\/87912469269276" \(line 2\): StartTime is missing; EndTime is missing/,
    );
    const twice = await runTally(["import", "star", files[0] as string, ...args]);
    expect(twice.stdout).toMatch(/ 0 imported, 0 replaced, \d+ unchanged/);
    const missing = await runTally(["import", "star", path.join(dir, "nope.xml"), ...args]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.xml: ENOENT/);
  });
});

describe.each(STORES)("StAR export of many accounts on %s", (kind: StoreKind) => {
  it("writes every account's records on several threads over HTTP, the command line and publish, the same ids", async () => {
    const dir = tempDir("records-many");
    dirs.push(dir);
    const store = await freshStore(kind);
    stores.push(store);
    const server = await TallyServer.start({ dataDir: path.join(dir, "data"), args: store.args });
    // More accounts than an export reads itself before it gives pages to threads (20 pages of 100).
    const accounts = 2_100;
    const events = [];
    for (let a = 0; a < accounts; a++) {
      const account = `AUTH_${String(a).padStart(4, "0")}`;
      for (const server of ["se-1", "se-2"]) {
        const base = { server, account, kind: "level", time: "2026-01-01T06:00:00Z" };
        events.push(goodEvent({ ...base, metric: "storage.bytes", value: a * 2 ** 40 + 1 }));
        events.push(goodEvent({ ...base, metric: "storage.files", value: a }));
      }
    }
    expect(await server.postNdjson(events)).toMatchObject({ accepted: events.length });
    const res = await fetch(`${server.url}/v1/records/star?from=2026-01-02&to=2026-01-03`, {
      headers: server.headers(),
    });
    expect(res.status).toBe(200);
    const exported = parseStarDocument(Buffer.from(await res.text()));
    expect(exported).toHaveLength(2 * accounts);
    expect(exported.every((r) => r.problems.length === 0)).toBe(true);
    const last = exported.filter((r) => r.record?.subject?.localUser === "AUTH_2099").map((r) => r.record);
    expect(last.map((r) => [r?.storageSystem, r?.resourceCapacityUsed, r?.fileCount])).toEqual([
      ["se-1", 2099n * 2n ** 40n + 1n, 2099n],
      ["se-2", 2099n * 2n ** 40n + 1n, 2099n],
    ]);
    const ids = exported.map((r) => r.record?.recordId);
    expect(new Set(ids).size).toBe(2 * accounts);
    server.signal("SIGTERM");
    await server.exited;

    const cli = await runTally([
      "records",
      "export",
      "--from",
      "2026-01-02",
      "--to",
      "2026-01-03",
      "--data",
      path.join(dir, "data"),
      ...store.args,
    ]);
    expect(cli.code).toBe(0);
    expect(parseStarDocument(Buffer.from(cli.stdout)).map((r) => r.record?.recordId)).toEqual(ids);
    // Publishing from the store itself: yesterday's records (the levels hold), written into the queue as made.
    const queue = path.join(dir, "outgoing");
    const { publish, messages: published } = await publishOnce(queue, [
      "--data",
      path.join(dir, "data"),
      ...store.args,
    ]);
    expect(publish.code).toBe(0);
    expect(published).toHaveLength(1);
    const message = parseStarDocument(fs.readFileSync(path.join(queue, published[0] as string)));
    expect(message).toHaveLength(2 * accounts);
    expect(message.every((r) => r.problems.length === 0)).toBe(true);
  });
});

describe("StAR commands while tally serve holds the store", () => {
  it("import star and records export go through the running server by themselves, or --url and --token-file", async () => {
    const dir = tempDir("records-running");
    dirs.push(dir);
    const data = path.join(dir, "data");
    const starConfig = path.join(dir, "star.yaml");
    fs.writeFileSync(starConfig, "site: HOME\n");
    const server = await TallyServer.start({ dataDir: data, args: ["--star-config", starConfig] });
    const good = path.join(dir, "good.xml");
    fs.writeFileSync(
      good,
      document(
        record("r1", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "1000"),
        record("r2", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", (2n ** 90n).toString()),
        record("bad", "2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z", "1"),
      ),
    );
    const broken = path.join(dir, "broken.xml");
    fs.writeFileSync(broken, "<x");
    const imported = await runTally(["import", "star", broken, good, "--data", data]);
    expect(imported.stdout).toBe(
      `${good}: 3 records: 2 imported, 0 replaced, 0 unchanged, 0 older than imported, 1 rejected\n`,
    );
    expect(imported.stderr).toContain(`${broken}: `);
    expect(imported.stderr).toContain(`${good}: record "bad" (line 9): EndTime is before StartTime`);
    expect(imported.code).toBe(2);
    // The server imported them: its usage shows the records.
    const usage = await server.get("/usage?format=json&at=2026-01-01T12:00");
    const row = (usage.body as { rows: { account: string; total: string }[] }).rows.find((r) => r.account === "AUTH_x");
    expect(row?.total).toBe("1000");

    const viaHttp = await fetch(`${server.url}/v1/records/star?from=2026-01-01&to=2026-01-03`, {
      headers: server.headers(),
    });
    const expected = parseStarDocument(Buffer.from(await viaHttp.text())).map((r) => r.record?.recordId);
    expect(expected).toHaveLength(2);
    const exported = await runTally([
      "records",
      "export",
      "--from",
      "2026-01-01",
      "--to",
      "2026-01-03",
      "--data",
      data,
    ]);
    expect(exported.stderr).toBe("");
    expect(exported.code).toBe(0);
    const records = parseStarDocument(Buffer.from(exported.stdout));
    expect(records.map((r) => r.record?.recordId)).toEqual(expected);
    expect(records.map((r) => [r.record?.site, r.record?.resourceCapacityUsed])).toEqual([
      ["EXAMPLE", 1000n],
      ["EXAMPLE", 2n ** 90n],
    ]);
    const json = await runTally([
      ...["records", "export", "--from", "2026-01-02", "--to", "2026-01-03", "--format", "star-json"],
      ...["--capacity", "average", "--data", data, "--star-config", starConfig],
    ]);
    expect(json.code).toBe(0);
    expect(json.stderr).toContain(`--star-config is not used: ${server.url} applies the records configuration`);
    expect(JSON.parse(json.stdout)).toMatchObject({
      StorageUsageRecords: [{ ResourceCapacityUsed: (2n ** 90n).toString() }],
    });
    const refused = await runTally(["records", "export", "--from", "2026-01-01", "--to", "2026-01-01", "--data", data]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("to must be after from");

    // Named explicitly, from anywhere: --url with the token in --token-file.
    const elsewhere = path.join(dir, "elsewhere");
    fs.mkdirSync(elsewhere);
    const tokenFile = path.join(dir, "token");
    fs.copyFileSync(path.join(data, "admin-token"), tokenFile);
    const explicit = ["--data", elsewhere, "--url", server.url, "--token-file", tokenFile];
    const again = await runTally(["import", "star", good, ...explicit]);
    expect(again.stdout).toContain("0 imported, 0 replaced, 2 unchanged");
    const remoteExport = await runTally([
      "records",
      "export",
      "--from",
      "2026-01-01",
      "--to",
      "2026-01-03",
      ...explicit,
    ]);
    expect(remoteExport.code).toBe(0);
    expect(parseStarDocument(Buffer.from(remoteExport.stdout)).map((r) => r.record?.recordId)).toEqual(expected);
    fs.writeFileSync(tokenFile, "not-a-token\n");
    const denied = await runTally(["records", "export", "--from", "2026-01-01", "--to", "2026-01-03", ...explicit]);
    expect(denied.code).toBe(3);
    expect(denied.stdout).toBe("");
    const unreachable = await runTally([
      ...["import", "star", good, "--data", elsewhere, "--url", "http://127.0.0.1:9", "--token-file", tokenFile],
    ]);
    expect(unreachable.code).toBe(6);
    expect(unreachable.stderr).toContain("cannot reach http://127.0.0.1:9");
    server.signal("SIGTERM");
    await server.exited;
  });
});
