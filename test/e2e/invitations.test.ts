// Invitations over a real `tally serve`, on SQLite and PostgreSQL: created with and without an existing account,
// accepted over HTTP and through the CLI, and the token each accept gives reads its account's usage and no other.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ErrorAnswer,
  freshStore,
  goodEvent,
  killAll,
  removeDir,
  runTally,
  STORES,
  TallyServer,
  type TestStore,
  tempDir,
} from "./helpers.js";

interface Accepted {
  account: string;
  petname: string;
  token: { id: string; role: string; account: string | null; revokedAt: string | null };
  secret: string;
}

describe.each(STORES)("invitations on %s", (kind) => {
  let store: TestStore | undefined;
  let tally: TallyServer;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("invitations");
    store = await freshStore(kind);
    tally = await TallyServer.start({ dataDir: dir, args: store.args });
    const time = new Date(Date.now() - 1000).toISOString();
    const events = ["AUTH_alice", "AUTH_bob"].map((account, i) =>
      goodEvent({ server: "srv-1", account, metric: "storage.bytes", value: String(1000 * (i + 1)), time }),
    );
    expect((await tally.postNdjson(events)).rejected).toEqual([]);
  });

  afterAll(async () => {
    await tally?.stop();
    killAll();
    if (dir) removeDir(dir);
    await store?.drop();
  });

  const cli = (args: string[]) => runTally([...args, "--url", tally.url, "--data", dir]);

  /** POST /v1/invitations/accept with the admin token: the code, not the token, is what counts. */
  const acceptOverHttp = (code: string) =>
    fetch(`${tally.url}/v1/invitations/accept`, {
      method: "POST",
      headers: tally.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ code }),
    });

  /** The status of reading an account's usage with a secret. */
  const usageStatus = async (account: string, secret: string) =>
    (
      await fetch(`${tally.url}/usage/accounts/${encodeURIComponent(account)}?format=json`, {
        headers: { Authorization: `Bearer ${secret}` },
      })
    ).status;

  it("binds an invitation to an existing account; accepting over HTTP gives a token that reads only it", async () => {
    const created = await cli(["invite", "create", "--petname", "Alice", "--account", "AUTH_alice", "--json"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const invitation = JSON.parse(created.stdout) as { code: string; account: string | null };
    expect(invitation.account).toBe("AUTH_alice");

    const first = await acceptOverHttp(invitation.code);
    expect(first.status).toBe(201);
    expect(first.headers.get("cache-control")).toBe("no-store");
    const accepted = (await first.json()) as Accepted;
    expect(accepted).toMatchObject({ account: "AUTH_alice", petname: "Alice" });
    expect(accepted.token).toMatchObject({ role: "account", account: "AUTH_alice", revokedAt: null });
    expect(accepted.secret).toMatch(/^tly_/);

    expect(await usageStatus("AUTH_alice", accepted.secret)).toBe(200);
    expect(await usageStatus("AUTH_bob", accepted.secret)).toBe(403);
    const usage = await fetch(`${tally.url}/usage/accounts/AUTH_alice?format=json`, {
      headers: { "X-Auth-Token": accepted.secret },
    });
    expect(await usage.json()).toMatchObject({ account: "AUTH_alice", petname: "Alice" });

    const again = await acceptOverHttp(invitation.code);
    expect(again.status).toBe(409);
    expect(((await again.json()) as ErrorAnswer).error.message).toMatch(/already been used/);
    // The token list shows the invitee's token, never its secret.
    const list = await tally.get("/v1/tokens");
    expect(JSON.stringify(list.body)).toContain(accepted.token.id);
    expect(JSON.stringify(list.body)).not.toContain(accepted.secret);
  });

  it("without --account, accepting through the CLI names a new account and prints its token once", async () => {
    const created = await cli(["invite", "create", "--petname", "New friend"]);
    expect(created.code).toBe(0);
    expect(created.stderr).toMatch(/"New friend" \(a new account\), usable once until/);
    const code = created.stdout.trim();

    const accepted = await cli(["invite", "accept", code]);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toMatch(/^tly_\S+\n$/);
    const account = /account (acct-[0-9a-f]{20}) is named "New friend"/.exec(accepted.stderr)?.[1];
    expect(account, accepted.stderr).toBeDefined();
    const secret = accepted.stdout.trim();

    expect(await usageStatus(account as string, secret)).toBe(200);
    expect(await usageStatus("AUTH_alice", secret)).toBe(403);
    const named = await tally.get(`/v1/petnames/${account}`);
    expect(named.body).toEqual({ account, petname: "New friend" });

    const again = await cli(["invite", "accept", code]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/already been used/);
    expect(again.stdout).toBe("");
  });

  it("accepts a bound invitation through the CLI as JSON, and a new one over HTTP", async () => {
    const bound = await cli(["invite", "create", "--petname", "Bob", "--account", "AUTH_bob"]);
    expect(bound.stderr).toMatch(/"Bob" \(account AUTH_bob\)/);
    const viaCli = await cli(["invite", "accept", bound.stdout.trim(), "--json"]);
    expect(viaCli.code).toBe(0);
    const bob = JSON.parse(viaCli.stdout) as Accepted;
    expect(bob).toMatchObject({ account: "AUTH_bob", petname: "Bob", token: { role: "account", account: "AUTH_bob" } });
    expect(await usageStatus("AUTH_bob", bob.secret)).toBe(200);
    expect(await usageStatus("AUTH_alice", bob.secret)).toBe(403);

    const fresh = await fetch(`${tally.url}/v1/invitations`, {
      method: "POST",
      headers: tally.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ petname: "Over HTTP" }),
    });
    expect(fresh.status).toBe(201);
    const { code, account } = (await fresh.json()) as { code: string; account: string | null };
    expect(account).toBeNull();
    const viaHttp = (await (await acceptOverHttp(code)).json()) as Accepted;
    expect(viaHttp.account).toMatch(/^acct-/);
    expect(await usageStatus(viaHttp.account, viaHttp.secret)).toBe(200);
    expect(await usageStatus("AUTH_bob", viaHttp.secret)).toBe(403);
  });

  it("refuses a bad account over HTTP and the CLI, naming it, and gives no code", async () => {
    for (const account of ["", "AUTH_\u202Eevil", "a".repeat(257), 7, ["AUTH_alice"]]) {
      const res = await fetch(`${tally.url}/v1/invitations`, {
        method: "POST",
        headers: tally.headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ petname: "Mallory", account }),
      });
      expect(res.status, JSON.stringify(account)).toBe(400);
      const body = (await res.json()) as ErrorAnswer & { code?: string };
      expect(body.error.message).toMatch(/^account /);
      expect(body.code).toBeUndefined();
    }
    const viaCli = await cli(["invite", "create", "--petname", "Mallory", "--account", "AUTH_\u0007bell"]);
    expect(viaCli.code).toBe(2);
    expect(viaCli.stderr).toMatch(/account holds U\+0007/);
    expect(viaCli.stdout).toBe("");
  });
});
