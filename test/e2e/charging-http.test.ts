// Charging over HTTP on a running `tally serve`, on SQLite and PostgreSQL: the policy and an agreement put by an
// admin, a period closed by `tally close`, and the bill and balance read with the account's own token.

import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BILLING_POLICY } from "../../src/charging/billing-run-contract.js";
import { freshStore, removeDir, runTally, STORES, TallyServer, type TestStore, tempDir } from "./helpers.js";

const dir = tempDir("charging-http");
const stores: TestStore[] = [];
afterAll(async () => {
  removeDir(dir);
  for (const s of stores) await s.drop();
});

describe.each(STORES)("charging over HTTP on %s", (kind) => {
  it("puts the policy and an agreement, and serves the closed bill and the balance to the account", async () => {
    const store = await freshStore(kind);
    stores.push(store);
    const data = fs.mkdtempSync(path.join(dir, `${kind}-`));
    let tally = await TallyServer.start({ dataDir: data, args: store.args });
    try {
      const send = (method: string, p: string, body: string, token = tally.token) =>
        fetch(`${tally.url}${p}`, {
          method,
          headers: { "X-Auth-Token": token, "content-type": "application/json" },
          body,
        });
      const put = await send("PUT", "/v1/policy?from=2026-01-01T00:00:00Z", BILLING_POLICY);
      expect(put.status).toBe(201);
      expect(await put.json()).toMatchObject({ version: 1, from: "2026-01-01T00:00:00.000Z" });
      const agreement = await send(
        "PUT",
        "/v1/accounts/A/agreement",
        JSON.stringify({ agreement: "std", from: "2026-01-01T00:00:00Z" }),
      );
      expect(await agreement.json()).toEqual({ account: "A", agreement: "std", from: "2026-01-01T00:00:00.000Z" });
      const ingest = await tally.postNdjson([
        { id: "1", server: "s1", time: "2026-10-01T00:00:00Z", account: "A", metric: "storage.bytes", value: 730e9 },
      ]);
      expect(ingest).toMatchObject({ accepted: 1 });
      const made = await send("POST", "/v1/tokens", JSON.stringify({ role: "account", account: "A" }));
      const accountToken = ((await made.json()) as { secret: string }).secret;
      const read = (p: string) => fetch(`${tally.url}${p}`, { headers: { "X-Auth-Token": accountToken } });

      // Not closed yet: priced now, and the same again once closed.
      const open = (await (await read("/v1/accounts/A/bills/2026-10")).json()) as Record<string, unknown>;
      expect(open).toMatchObject({ total: "14.88", credits_granted: "10", closing_balance: "-4.88" });
      // The CLI opens the store itself, which a running SQLite node holds: the run is made while it is stopped.
      await tally.stop();
      const closed = await runTally(["close", "A", "--period", "2026-10", "--data", data, ...store.args]);
      expect(closed.stderr).toBe("");
      expect(closed.stdout).toContain("A 2026-10: closed, charges 14.88, closing balance -4.88");
      tally = await TallyServer.start({ dataDir: data, args: store.args });
      expect(await (await read("/v1/accounts/A/bills/2026-10")).json()).toEqual(open);
      const balance = await read("/v1/accounts/A/balance");
      expect(balance.status).toBe(200);
      expect(await balance.json()).toMatchObject({ closed_balance: "-4.88", closed_through: "2026-10" });
      expect((await read("/v1/accounts/B/balance")).status).toBe(403);
      expect((await send("PUT", "/v1/policy", BILLING_POLICY, accountToken)).status).toBe(403);
    } finally {
      await tally.stop();
    }
  });
});
