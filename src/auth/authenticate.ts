// From the secret a request presents to the principal it acts as: a hash lookup, never a comparison of secrets.

import { AppError } from "../domain/errors.js";
import type { Principal } from "./principal.js";
import { hashSecret, principalOf, SECRET_PREFIX } from "./token.js";
import type { TokenStore } from "./token-store.js";

/** Longer than any secret Tally makes: anything longer is not one, and is not hashed. */
const MAX_SECRET_CHARS = 200;

/** The principal of a valid token; UNAUTHORIZED for an unknown or revoked one (the message does not say which). */
export async function authenticate(store: TokenStore, secret: string): Promise<Principal> {
  const invalid = () => new AppError("UNAUTHORIZED", "the token is not valid (unknown or revoked)");
  if (!secret.startsWith(SECRET_PREFIX) || secret.length > MAX_SECRET_CHARS) throw invalid();
  const token = await store.findByHash(hashSecret(secret));
  if (!token || token.revokedAt !== null) throw invalid();
  return principalOf(token);
}
