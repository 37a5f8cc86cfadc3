// The charging commands while `tally serve` holds the data directory: they find the server by its note and go through
// it with the admin token (a SQLite store is opened by one process at a time); --url and --token-file choose
// explicitly.

import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GROUP_POLICY } from "../../src/charging/resolution-contract.js";
import { killAll, ndjson, removeDir, runTally, TallyServer, tempDir } from "./helpers.js";

describe("the charging commands and the running server", () => {
  let dir: string;
  afterEach(() => {
    killAll();
    if (dir) removeDir(dir);
  });

  it("load a policy, set agreements and groups, bill, close and give the balance through the server", async () => {
    dir = tempDir("charging-server");
    const tally = await TallyServer.start({ dataDir: dir });
    const data = ["--data", dir];
    try {
      const policy = path.join(dir, "policy.yaml");
      fs.writeFileSync(policy, GROUP_POLICY);
      const loaded = await runTally(["policy", "load", policy, "--from", "2026-01-01T00:00:00Z", ...data]);
      expect(loaded.stderr).toBe("");
      expect(loaded.stdout).toBe("policy version 1 loaded, in effect from 2026-01-01T00:00:00.000Z\n");
      const agreed = await runTally([
        "agreement",
        "set",
        "team",
        "half",
        "--group",
        "--from",
        "2026-01-01T00:00:00Z",
        ...data,
      ]);
      expect(agreed.stderr).toBe("");
      expect(agreed.stdout).toBe("group team holds agreement half from 2026-01-01T00:00:00.000Z\n");
      const unknown = await runTally(["agreement", "set", "A", "gold", ...data]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('agreement "gold" is not defined in the loaded policy');
      const joined = await runTally(["group", "set", "A", "team", "--from", "2026-11-16T00:00:00Z", ...data]);
      expect(joined.stdout).toBe("A is in group team from 2026-11-16T00:00:00.000Z\n");
      const early = await runTally(["group", "clear", "A", "--from", "2026-11-01T00:00:00Z", ...data]);
      expect(early.code).toBe(5);
      expect(early.stderr).toContain("must start after the latest one");
      const shown = await runTally(["group", "show", "A", "--format", "json", ...data]);
      expect(JSON.parse(shown.stdout)).toEqual({
        account: "A",
        group: "team",
        memberships: [{ group: "team", from: "2026-11-16T00:00:00.000Z", to: null }],
      });

      const events = path.join(dir, "events.ndjson");
      const reading = { server: "s1", account: "A", metric: "storage.bytes", kind: "level" };
      fs.writeFileSync(
        events,
        ndjson([
          { ...reading, id: "1", time: "2026-10-31T00:00:00Z", value: 730_000_000_000 },
          { ...reading, id: "2", time: "2026-12-01T00:00:00Z", value: 0 },
        ]),
      );
      expect((await runTally(["ingest", events, ...data])).code).toBe(0);

      // 360 h by the default's 0.02, then 360 h by team's 0.01, a GB-month an hour.
      const bill = await runTally(["bill", "A", "--period", "2026-11", "--format", "json", ...data]);
      expect(bill.stderr).toBe("");
      const billed = JSON.parse(bill.stdout);
      expect(billed).toMatchObject({ total: "10.80", closing_balance: "-10.80" });
      expect(billed.agreements.map((a: { name: string; source: string }) => [a.name, a.source])).toEqual([
        ["std", "default"],
        ["half", "group"],
      ]);
      expect((await tally.get("/v1/accounts/A/bills/2026-11")).body).toEqual(billed);
      const text = await runTally(["bill", "A", "--period", "2026-11", ...data]);
      expect(text.stdout).toContain("agreement: std (default, 2026-11-01T00:00:00.000Z to 2026-11-16T00:00:00.000Z); ");
      expect(text.stdout).toContain("half (group team, 2026-11-16T00:00:00.000Z to 2026-12-01T00:00:00.000Z)");

      const closed = await runTally(["close", "A", "--period", "2026-11", ...data]);
      expect(closed.stderr).toBe("");
      expect(closed.stdout).toBe(
        "A 2026-11: closed, charges 10.80, closing balance -10.80 (1 entries written, 0 existing)\n",
      );
      const again = await runTally(["close", "A", "--period", "2026-11", ...data]);
      expect(again.stdout).toBe(
        "A 2026-11: already closed, charges 10.80, closing balance -10.80 (0 entries written, 1 existing)\n",
      );
      // The billing run finds the accounts itself: A is the only one with usage or a group here.
      const all = await runTally(["close", "--all", "--period", "2026-11", ...data]);
      expect(all.stderr).toBe("");
      expect(all.stdout).toBe(
        "A 2026-11: already closed, charges 10.80, closing balance -10.80 (0 entries written, 1 existing)\n",
      );
      for (const args of [["close", "A", "--all"], ["close"]]) {
        const refused = await runTally([...args, "--period", "2026-11", ...data]);
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/accounts to close, or (give )?--all/);
      }
      const notEnded = await runTally(["close", "A", "--period", "2099-01", ...data]);
      expect(notEnded.code).toBe(2);
      expect(notEnded.stderr).toContain("period 2099-01 has not ended");

      const balance = await runTally(["balance", "A", "--format", "json", ...data]);
      expect(balance.stderr).toBe("");
      expect(JSON.parse(balance.stdout)).toMatchObject({
        account: "A",
        closed_balance: "-10.80",
        closed_through: "2026-11",
        charges: "0.00",
      });

      // --url and --token-file choose explicitly: a token that is not an admin's is refused by the server.
      const tokenFile = path.join(dir, "read-token");
      const made = await runTally(["token", "create", "--role", "read", ...data]);
      fs.writeFileSync(tokenFile, made.stdout);
      const other = ["--data", path.join(dir, "elsewhere"), "--url", tally.url];
      const explicit = await runTally(["balance", "A", ...other, "--token-file", path.join(dir, "admin-token")]);
      expect(explicit.stderr).toBe("");
      expect(explicit.stdout).toContain("A: balance -10.80 (closed through 2026-11: -10.80;");
      const reader = await runTally(["close", "A", "--period", "2026-11", ...other, "--token-file", tokenFile]);
      expect(reader.code).toBe(3);
      expect(reader.stderr).toContain("may not POST /v1/accounts/A/bills/2026-11/close");
      const gone = await runTally(["bill", "A", "--period", "2026-11", ...data, "--url", "http://127.0.0.1:9"]);
      expect(gone.code).toBe(6);
      expect(gone.stderr).toContain("cannot reach http://127.0.0.1:9");
    } finally {
      await tally.stop();
    }
    // With the server stopped, the commands open the store themselves and find what went through the server.
    const after = await runTally(["group", "show", "A", ...data]);
    expect(after.stderr).toBe("");
    expect(after.stdout).toBe("A: in group team now\n  2026-11-16T00:00:00.000Z to on: team\n");
    const ledger = await runTally(["balance", "A", "--format", "json", ...data]);
    expect(JSON.parse(ledger.stdout)).toMatchObject({ closed_balance: "-10.80" });
  });
});
