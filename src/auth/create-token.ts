// Creating a token: a fresh random secret, returned once; the store keeps only its hash.

import { hashSecret, newSecret, newTokenId, normalizeSpec, type TokenRecord, type TokenSpec } from "./token.js";
import type { StoredToken, TokenStore } from "./token-store.js";

export interface CreatedToken {
  readonly token: TokenRecord;
  /** Shown to the caller once; nothing can show it again. */
  readonly secret: string;
}

export async function createToken(store: TokenStore, spec: TokenSpec, now = Date.now()): Promise<CreatedToken> {
  const { stored, secret } = mintToken(spec, now);
  await store.insert(stored);
  return { token: withoutHash(stored), secret };
}

/** A new token and its secret, not yet stored. */
export function mintToken(spec: TokenSpec, now: number): { stored: StoredToken; secret: string } {
  const secret = newSecret();
  const stored: StoredToken = {
    ...normalizeSpec(spec),
    id: newTokenId(),
    hash: hashSecret(secret),
    createdAt: now,
    revokedAt: null,
  };
  return { stored, secret };
}

export function withoutHash(stored: StoredToken): TokenRecord {
  const { hash: _hash, ...token } = stored;
  return token;
}
