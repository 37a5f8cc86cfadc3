// Revoking a token by id: it stops working at once; revoking it again changes nothing.

import { AppError } from "../domain/errors.js";
import type { TokenRecord } from "./token.js";
import type { TokenStore } from "./token-store.js";

export async function revokeToken(store: TokenStore, id: string, now = Date.now()): Promise<TokenRecord> {
  const token = await store.revoke(id, now);
  if (!token) throw new AppError("NOT_FOUND", `there is no token with id ${id}`);
  return token;
}
