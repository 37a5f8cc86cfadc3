// A damaged derived database over the real binary: `tally serve` moves it aside, says so, and serves the usage derived
// again from the event log; `tally doctor` reports a healthy and a damaged store, repairs one, and refuses a store
// that a running server holds; the derived database named as a store is refused.

import fs from "node:fs";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { goodEvent, killAll, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

const dir = tempDir("derived-recovery");
const derived = path.join(dir, "tally-derived.sqlite");

afterAll(() => {
  killAll();
  removeDir(dir);
});

/** Levels and counters for 50 accounts on 3 servers over a few hours. */
function events(): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < 600; i++) {
    const level = Math.floor(i / 50) % 2 === 0;
    out.push(
      goodEvent({
        server: `srv-${i % 3}`,
        account: `AUTH_${i % 50}`,
        metric: level ? "storage.bytes" : "requests.get",
        value: level ? String(BigInt(i) * 1_000_003n) : 1 + (i % 7),
        time: new Date(Date.UTC(2026, 10, 23, i % 6, i % 60)).toISOString(),
      }),
    );
  }
  return out;
}

/** The usage table's rows and totals, which a derived database gives, without the moment it was read. */
async function usage(tally: TallyServer): Promise<unknown> {
  const answer = await tally.get("/usage?format=json&limit=100");
  expect(answer.status).toBe(200);
  const { rows, totals } = answer.body as { rows: unknown[]; totals: unknown };
  return { rows, totals };
}

const movedAside = () => fs.readdirSync(dir).filter((name) => name.startsWith("tally-derived.sqlite.damaged-"));

it("serve moves a damaged derived database aside and derives it again; doctor finds it, repairs it, and waits its turn", {
  timeout: 120_000,
}, async () => {
  let tally = await TallyServer.start({ dataDir: dir });
  const sent = events();
  expect((await tally.postNdjson(sent)).accepted).toBe(sent.length);
  const before = await usage(tally);
  expect((before as { rows: unknown[] }).rows).toHaveLength(50);

  // A running server holds the store: doctor refuses, and changes nothing.
  const files = fs.readdirSync(dir).sort();
  const refused = await runTally(["doctor", "--data", dir]);
  expect(refused.code).toBe(6);
  expect(refused.stderr).toMatch(/is in use by a running Tally \(tally serve\); stop it first/);
  expect(fs.readdirSync(dir).sort()).toEqual(files);
  expect(await usage(tally)).toEqual(before);
  expect(await tally.stop()).toEqual({ code: 0, signal: null });

  const healthy = await runTally(["doctor", "--data", dir]);
  expect(healthy.code).toBe(0);
  expect(healthy.stdout).toBe(
    `tally.sqlite (event log): ok, holds ${sent.length} events\n` +
      `tally-derived.sqlite (derived from it): ok, covers ${sent.length} events\n`,
  );

  // Its header zeroed: doctor says what serve will do, then serve does it.
  fs.writeFileSync(derived, Buffer.alloc(100), { flag: "r+" });
  const damaged = await runTally(["doctor", "--data", dir, "--json"]);
  expect(damaged.code).toBe(1);
  expect(JSON.parse(damaged.stdout)).toMatchObject({
    healthy: false,
    log: { state: "ok", events: sent.length },
    derived: {
      file: derived,
      state: "damaged",
      problem: "file is not a database",
      advice: expect.stringContaining("tally serve will move it aside and derive it again from the event log"),
    },
  });

  tally = await TallyServer.start({ dataDir: dir });
  const warning = JSON.parse(await tally.waitForLog(`the derived database ${derived} is damaged`));
  expect(movedAside()).toHaveLength(1);
  const movedTo = path.join(dir, movedAside()[0] as string);
  expect(warning).toMatchObject({ level: 40, derived, movedTo, reason: "file is not a database" });
  expect(warning.msg).toBe(
    `the derived database ${derived} is damaged (file is not a database): moved it to ${movedTo}; deriving it again from the event log`,
  );
  expect(await usage(tally)).toEqual(before);
  expect(await tally.stop()).toEqual({ code: 0, signal: null });

  // Truncated: doctor --repair moves it aside and derives it again itself.
  fs.truncateSync(derived, Math.floor(fs.statSync(derived).size / 2));
  const repaired = await runTally(["doctor", "--data", dir, "--repair"]);
  expect(repaired.code).toBe(0);
  expect(repaired.stdout).toMatch(
    /^tally-derived\.sqlite \(derived from it\): repaired \(database disk image is malformed\); moved it to \S+\.damaged-\S+ and derived it again from the event log$/m,
  );
  expect(movedAside()).toHaveLength(2);
  expect((await runTally(["doctor", "--data", dir])).stdout).toBe(healthy.stdout);

  tally = await TallyServer.start({ dataDir: dir });
  expect(await usage(tally)).toEqual(before);
  expect(tally.output).not.toMatch(/is damaged/);
  expect(await tally.stop()).toEqual({ code: 0, signal: null });

  // The derived database named as the store: refused, with the event log's name, and left as it was.
  const bytes = fs.readFileSync(derived);
  const named = new RegExp(
    `${derived} is a derived database, .* name the event log beside it \\(${dir}/tally\\.sqlite\\)`,
  );
  for (const command of [["doctor"], ["ingest", "-"]]) {
    const refused = await runTally([...command, "--store", `sqlite:${derived}`], {
      input: JSON.stringify(goodEvent({})),
    });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(named);
  }
  expect(fs.readFileSync(derived).equals(bytes)).toBe(true);
});
