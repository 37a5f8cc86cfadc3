// Accepting an invitation over both stores, on SQLite and PostgreSQL: the token it gives, a code used once under
// racing accepts, and a failed use of the code that leaves no working token. PostgreSQL must be reachable.

import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashSecret } from "../auth/token.js";
import type { Backend } from "../backend/backend.js";
import { postgresBackendOn } from "../backend/postgres.js";
import { sqliteBackendOn } from "../backend/sqlite.js";
import { AppError } from "../domain/errors.js";
import { openPostgresStore } from "../store/postgres/postgres-store.js";
import { openSqliteStore } from "../store/sqlite/sqlite-store.js";
import { type AcceptedInvitation, acceptInvitation } from "./accept-invitation.js";
import { createInvitation, hashCode } from "./petname.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

interface Opened {
  readonly backend: Backend;
  /** Makes the database itself refuse to use any invitation, as a real failure between the two writes would. */
  breakInvitations(): Promise<void>;
}

const BACKENDS: [string, () => Promise<Opened>][] = [
  [
    "sqlite",
    async () => {
      const store = await openSqliteStore({ path: ":memory:", recentKeySlots: 16 });
      return {
        backend: sqliteBackendOn(store),
        breakInvitations: async () => {
          store.db.exec(
            "CREATE TRIGGER refuse_use BEFORE UPDATE ON invitations BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
          );
        },
      };
    },
  ],
  [
    "postgres",
    async () => {
      const schema = `tally_test_${randomUUID().replaceAll("-", "")}`;
      const store = await openPostgresStore({ url, schema, dropSchemaOnClose: true });
      return {
        backend: await postgresBackendOn(store),
        breakInvitations: async () => {
          await store.pool.query(`
            CREATE FUNCTION refuse_use() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN RAISE EXCEPTION 'the disk is full'; END $$;
            CREATE TRIGGER refuse_use BEFORE UPDATE ON invitations FOR EACH ROW EXECUTE FUNCTION refuse_use();
          `);
        },
      };
    },
  ],
];

describe.each(BACKENDS)("accepting an invitation on %s", (_name, open) => {
  let opened: Opened;
  let backend: Backend;
  beforeEach(async () => {
    opened = await open();
    backend = opened.backend;
  });
  afterEach(async () => {
    await backend.close();
  });

  /** The token a secret opens, if it would be let in: stored and not revoked. */
  async function working(secret: string) {
    const token = await backend.tokens.findByHash(hashSecret(secret));
    return token !== null && token.revokedAt === null ? token : null;
  }

  it("names a new account and gives a token of role account for it, its secret shown once", async () => {
    const { code } = await createInvitation(backend.petnames, "Bob");
    const accepted = await acceptInvitation(backend, code);
    expect(accepted.account).toMatch(/^acct-[0-9a-f]{20}$/);
    expect(accepted.petname).toBe("Bob");
    expect(accepted.secret).toMatch(/^tly_/);
    expect(accepted.token).toMatchObject({ role: "account", account: accepted.account, revokedAt: null });
    expect(await working(accepted.secret)).toEqual(accepted.token);
    expect(await backend.petnames.get([accepted.account])).toEqual(new Map([[accepted.account, "Bob"]]));
    // Nothing kept shows the secret: the store lists the token by id and hash only.
    expect(JSON.stringify(await backend.tokens.list())).not.toContain(accepted.secret);
  });

  it("gives a token for the account the invitation is bound to", async () => {
    const created = await createInvitation(backend.petnames, "Alice", { account: "AUTH_alice" });
    expect(created.account).toBe("AUTH_alice");
    const accepted = await acceptInvitation(backend, ` ${created.code}\n`);
    expect(accepted).toMatchObject({ account: "AUTH_alice", petname: "Alice" });
    expect((await working(accepted.secret))?.account).toBe("AUTH_alice");
    expect(await backend.petnames.get(["AUTH_alice"])).toEqual(new Map([["AUTH_alice", "Alice"]]));
  });

  it("refuses a bad account for an invitation, naming what is wrong", async () => {
    for (const [account, message] of [
      ["", /non-empty/],
      [42, /non-empty string/],
      ["a".repeat(257), /longer than 256 bytes/],
      ["AUTH_\u202Eevil", /U\+202E/],
    ] as const) {
      const refused = await createInvitation(backend.petnames, "X", { account }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AppError);
      expect((refused as AppError).code).toBe("VALIDATION");
      expect((refused as AppError).message).toMatch(message);
    }
  });

  it("makes no token for an unknown, used or expired code", async () => {
    const { code } = await createInvitation(backend.petnames, "Once", { account: "AUTH_once" });
    const expiring = await createInvitation(backend.petnames, "Late", { ttlMs: 1000, now: Date.now() - 5000 });
    await acceptInvitation(backend, code);
    const before = await backend.tokens.list();
    const codeOf = (e: unknown) => (e instanceof AppError ? e.code : String(e));
    expect(await acceptInvitation(backend, "tally-inv-unknown").catch(codeOf)).toBe("NOT_FOUND");
    expect(await acceptInvitation(backend, code).catch(codeOf)).toBe("CONFLICT");
    expect(await acceptInvitation(backend, expiring.code).catch(codeOf)).toBe("CONFLICT");
    expect(await acceptInvitation(backend, "").catch(codeOf)).toBe("VALIDATION");
    expect(await backend.tokens.list()).toEqual(before);
  });

  it("works once when two accepts race: one token works, the loser's is revoked", async () => {
    for (const account of [undefined, "AUTH_raced"]) {
      const petname = `Racer for ${account ?? "a new account"}`;
      const { code } = await createInvitation(backend.petnames, petname, { account });
      await Promise.all(Array.from({ length: 4 }, () => backend.tokens.list()));
      const outcomes = await Promise.allSettled([acceptInvitation(backend, code), acceptInvitation(backend, code)]);
      const won = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
      const lost = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
      expect(won).toHaveLength(1);
      expect(lost).toEqual([expect.objectContaining({ code: "CONFLICT" })]);
      const winner = won[0] as AcceptedInvitation;
      expect(await working(winner.secret)).toEqual(winner.token);
      if (account) expect(winner.account).toBe(account);
      const racers = (await backend.tokens.list()).filter((t) => t.note === `invitation for ${petname}`);
      // Both may have stored a token before one used the code; every token but the winner's is revoked.
      expect(racers.filter((t) => t.revokedAt === null).map((t) => t.id)).toEqual([winner.token.id]);
      expect(await backend.petnames.get([winner.account])).toEqual(new Map([[winner.account, petname]]));
    }
  });

  it("leaves the code unused and no working token when the database refuses to use it", async () => {
    const { code } = await createInvitation(backend.petnames, "Carol", { account: "AUTH_carol" });
    await opened.breakInvitations();
    await expect(acceptInvitation(backend, code)).rejects.toThrow(/the disk is full/);
    const tokens = await backend.tokens.list();
    expect(tokens.map((t) => [t.account, t.revokedAt !== null])).toEqual([["AUTH_carol", true]]);
    expect(await backend.petnames.findOpenInvitation(hashCode(code), Date.now())).toMatchObject({
      account: "AUTH_carol",
    });
    expect(await backend.petnames.get(["AUTH_carol"])).toEqual(new Map());
  });
});
