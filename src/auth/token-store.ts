// The token store contract: SQLite and PostgreSQL adapters, checked by the shared suite in token-store-contract.ts.

import type { TokenRecord } from "./token.js";

export interface StoredToken extends TokenRecord {
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  readonly hash: string;
}

/**
 * Tokens live beside the usage data, on the same connection or pool: the adapter does not own it, and closing
 * the usage store closes it.
 */
export interface TokenStore {
  /** Stores a new token; its id and hash are unique. */
  insert(token: StoredToken): Promise<void>;
  /**
   * Stores the token only if the store holds no token at all, atomically even with several Tally nodes starting
   * at once over one database. Returns whether it was stored.
   */
  insertIfEmpty(token: StoredToken): Promise<boolean>;
  /** The token with this secret hash, revoked or not. */
  findByHash(hash: string): Promise<TokenRecord | null>;
  /** Every token, revoked ones too, oldest first. */
  list(): Promise<TokenRecord[]>;
  /** Marks the token revoked at `at` (a second revoke keeps the first time); null when there is no such token. */
  revoke(id: string, at: number): Promise<TokenRecord | null>;
}
