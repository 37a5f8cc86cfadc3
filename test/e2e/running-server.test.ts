// Commands find the running `tally serve` by the note it keeps in its data directory and go through it with the admin
// token, without --url; the note goes at a clean stop, and one a killed server left behind is recognised as stale.

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { goodEvent, killAll, ndjson, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

describe("commands and the running server", () => {
  let dir: string;
  afterEach(() => {
    killAll();
    if (dir) removeDir(dir);
  });

  it("stops cleanly on a SIGTERM sent as soon as it says where it listens, its note gone", async () => {
    dir = tempDir("running-server");
    for (let i = 0; i < 3; i++) {
      const tally = await TallyServer.start({ dataDir: dir });
      expect(await tally.stop()).toEqual({ code: 0, signal: null });
      expect(tally.output).toContain('"msg":"stopped"');
      expect(fs.existsSync(path.join(dir, "server.json"))).toBe(false);
    }
  });

  it("go through the server that holds the data directory, by themselves", async () => {
    dir = tempDir("running-server");
    const tally = await TallyServer.start({ dataDir: dir });
    try {
      const note = JSON.parse(fs.readFileSync(path.join(dir, "server.json"), "utf8")) as { url: string; pid: number };
      expect(note).toMatchObject({ url: tally.url, pid: tally.pid });

      const created = await runTally(["token", "create", "--role", "read", "--note", "via note", "--data", dir]);
      expect(created.stderr).toContain("created token");
      expect(created.code).toBe(0);
      const listed = await runTally(["token", "list", "--json", "--data", dir]);
      expect(listed.code).toBe(0);
      expect((JSON.parse(listed.stdout) as { tokens: { note: string }[] }).tokens.map((t) => t.note)).toContain(
        "via note",
      );

      expect((await runTally(["petname", "set", "AUTH_a", "Alice", "--data", dir])).code).toBe(0);
      expect((await tally.get("/v1/petnames/AUTH_a")).body).toMatchObject({ petname: "Alice" });
      const invited = await runTally(["invite", "create", "--petname", "Bob", "--json", "--data", dir]);
      expect(invited.code).toBe(0);
      expect(JSON.parse(invited.stdout)).toMatchObject({ petname: "Bob" });

      const file = path.join(dir, "events.ndjson");
      const time = new Date(Date.now() - 1000).toISOString();
      const events = [1, 2, 3].map((v) => goodEvent({ account: "AUTH_a", metric: "requests.get", value: v, time }));
      fs.writeFileSync(file, `${ndjson(events)}{"id": "bad"}\n`);
      const ingested = await runTally(["ingest", file, "--data", dir]);
      expect(ingested.stdout).toContain("3 accepted, 0 duplicates, 1 rejected");
      expect(ingested.stderr).toContain("line 4:");
      expect(ingested.code).toBe(2);
      const again = await runTally(["ingest", file, "--data", dir]);
      expect(again.stdout).toContain("0 accepted, 3 duplicates, 1 rejected");

      const rebuilt = await runTally(["rebuild", "--data", dir]);
      expect(rebuilt.code).toBe(6);
      expect(rebuilt.stderr).toContain(`tally serve (pid ${tally.pid}, ${tally.url}) holds this store; stop it`);

      // Another store named explicitly is not the server's: the command opens it itself.
      const other = await runTally(["token", "list", "--json", "--data", dir, "--store", `sqlite:${dir}/other.sqlite`]);
      expect(other.code).toBe(0);
      expect(JSON.parse(other.stdout)).toEqual({ tokens: [] });

      // --url still chooses explicitly.
      const wrong = await runTally(["token", "list", "--data", dir, "--url", "http://127.0.0.1:9"]);
      expect(wrong.code).toBe(6);
      expect(wrong.stderr).toContain("cannot reach http://127.0.0.1:9");
    } finally {
      await tally.stop();
    }
    expect(fs.existsSync(path.join(dir, "server.json"))).toBe(false);
  });

  it("recognise the note of a killed server as stale and open the store themselves", async () => {
    dir = tempDir("stale-note");
    const tally = await TallyServer.start({ dataDir: dir });
    await tally.kill();
    expect(fs.existsSync(path.join(dir, "server.json"))).toBe(true);
    const listed = await runTally(["token", "list", "--json", "--data", dir]);
    expect(listed.stderr).toBe("");
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { tokens: unknown[] }).tokens).toHaveLength(1);
    const rebuilt = await runTally(["rebuild", "--data", dir]);
    expect(rebuilt.code).toBe(0);
  });
});
