// The shared suite every TokenStore adapter runs, and the token use cases over it.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../domain/errors.js";
import { authenticate } from "./authenticate.js";
import { createToken, mintToken } from "./create-token.js";
import { revokeToken } from "./revoke-token.js";
import { hashSecret } from "./token.js";
import type { TokenStore } from "./token-store.js";

export interface OpenedTokenStore {
  readonly tokens: TokenStore;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 10, 1);

export function describeTokenStoreContract(open: () => Promise<OpenedTokenStore>): void {
  let opened: OpenedTokenStore;
  let store: TokenStore;
  beforeEach(async () => {
    opened = await open();
    store = opened.tokens;
  });
  afterEach(async () => {
    await opened.close();
  });

  describe("create and list", () => {
    it("shows the secret once, keeps only its hash, and lists tokens without it, oldest first", async () => {
      const a = await createToken(store, { role: "read", note: "billing" }, T0);
      const b = await createToken(store, { role: "account", account: "AUTH_x" }, T0 + 1);
      expect(a.secret).toMatch(/^tly_[A-Za-z0-9_-]{43}$/);
      expect(a.secret).not.toBe(b.secret);
      expect(a.token.id).toMatch(/^tok_[0-9a-f]{16}$/);
      const list = await store.list();
      expect(list).toEqual([
        { id: a.token.id, role: "read", account: null, servers: null, note: "billing", createdAt: T0, revokedAt: null },
        {
          id: b.token.id,
          role: "account",
          account: "AUTH_x",
          servers: null,
          note: "",
          createdAt: T0 + 1,
          revokedAt: null,
        },
      ]);
      expect(JSON.stringify(list)).not.toContain(a.secret);
      expect(JSON.stringify(list)).not.toContain(hashSecret(a.secret));
    });

    it("keeps an ingest token's servers, sorted and without repeats", async () => {
      const { token } = await createToken(store, { role: "ingest", servers: ["s2", "s1", "s2"] }, T0);
      expect(token.servers).toEqual(["s1", "s2"]);
      expect((await store.list())[0]?.servers).toEqual(["s1", "s2"]);
    });

    it("refuses specs that would look narrower than they are", async () => {
      await expect(createToken(store, { role: "account" })).rejects.toThrow(/account is required/);
      await expect(createToken(store, { role: "read", account: "a" })).rejects.toThrow(/role account only/);
      await expect(createToken(store, { role: "admin", servers: ["s1"] })).rejects.toThrow(/role ingest only/);
      await expect(createToken(store, { role: "boss" as "admin" })).rejects.toThrow(/role must be one of/);
      await expect(createToken(store, { role: "account", account: "a\nb" })).rejects.toThrow(/control characters/);
      expect(await store.list()).toEqual([]);
    });
  });

  describe("authenticate", () => {
    it("turns a valid secret into its principal", async () => {
      const { secret, token } = await createToken(store, { role: "ingest", servers: ["s1"] }, T0);
      expect(await authenticate(store, secret)).toEqual({
        role: "ingest",
        tokenId: token.id,
        account: null,
        servers: ["s1"],
      });
    });

    it("stores a metrics token and turns its secret into a principal of role metrics", async () => {
      const { secret, token } = await createToken(store, { role: "metrics", note: "prometheus" }, T0);
      expect(await authenticate(store, secret)).toEqual({
        role: "metrics",
        tokenId: token.id,
        account: null,
        servers: null,
      });
      await expect(createToken(store, { role: "metrics", account: "a" })).rejects.toThrow(/role account only/);
      await expect(createToken(store, { role: "metrics", servers: ["s1"] })).rejects.toThrow(/role ingest only/);
    });

    it("refuses unknown, malformed and revoked secrets alike", async () => {
      const { secret, token } = await createToken(store, { role: "admin" }, T0);
      for (const bad of [
        "",
        "tly_",
        `${secret}x`,
        secret.slice(0, -1),
        secret.replace("tly_", "xxx_"),
        "x".repeat(5000),
      ]) {
        await expect(authenticate(store, bad)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
      }
      await revokeToken(store, token.id, T0 + 5);
      await expect(authenticate(store, secret)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    });
  });

  describe("revoke", () => {
    it("marks the token revoked at once, keeps the first time on a second revoke, and lists it still", async () => {
      const { token } = await createToken(store, { role: "read" }, T0);
      const other = await createToken(store, { role: "read" }, T0);
      expect((await revokeToken(store, token.id, T0 + 10)).revokedAt).toBe(T0 + 10);
      expect((await revokeToken(store, token.id, T0 + 20)).revokedAt).toBe(T0 + 10);
      const list = await store.list();
      expect(list.find((t) => t.id === token.id)?.revokedAt).toBe(T0 + 10);
      expect(list.find((t) => t.id === other.token.id)?.revokedAt).toBeNull();
      expect(await authenticate(store, other.secret)).toMatchObject({ role: "read" });
    });

    it("answers NOT_FOUND for an unknown id", async () => {
      const error = await revokeToken(store, "tok_nope").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("NOT_FOUND");
    });
  });

  describe("insertIfEmpty", () => {
    it("stores the first token only while the store holds none", async () => {
      const first = mintToken({ role: "admin" }, T0);
      const second = mintToken({ role: "admin" }, T0);
      expect(await store.insertIfEmpty(first.stored)).toBe(true);
      expect(await store.insertIfEmpty(second.stored)).toBe(false);
      expect((await store.list()).map((t) => t.id)).toEqual([first.stored.id]);
    });

    it("stores exactly one when several starts race", async () => {
      const minted = Array.from({ length: 8 }, () => mintToken({ role: "admin" }, T0));
      const results = await Promise.all(minted.map((m) => store.insertIfEmpty(m.stored)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.list()).toHaveLength(1);
    });

    it("stores nothing when a token exists already", async () => {
      await createToken(store, { role: "read" }, T0);
      expect(await store.insertIfEmpty(mintToken({ role: "admin" }, T0).stored)).toBe(false);
    });
  });

  it("finds a token by the hash of its secret only", async () => {
    const { secret, token } = await createToken(store, { role: "read" }, T0);
    expect((await store.findByHash(hashSecret(secret)))?.id).toBe(token.id);
    expect(await store.findByHash(hashSecret("tly_other"))).toBeNull();
  });
}
