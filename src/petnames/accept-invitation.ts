// Accepting an invitation: its account gets the invitation's petname, and the invitee a token that reads it.

import { mintToken, withoutHash } from "../auth/create-token.js";
import type { TokenRecord } from "../auth/token.js";
import type { TokenStore } from "../auth/token-store.js";
import { AppError, validation } from "../domain/errors.js";
import { hashCode, newAccountId } from "./petname.js";
import type { Petname, PetnameStore } from "./petname-store.js";

export interface AcceptedInvitation {
  readonly account: string;
  readonly petname: string;
  /** A token of role account for `account`. */
  readonly token: TokenRecord;
  /** The token's secret, in this answer only: the store keeps its hash. */
  readonly secret: string;
}

/** The two stores an accept writes to, each through its own port. */
export interface InvitationStores {
  readonly petnames: PetnameStore;
  readonly tokens: TokenStore;
}

/** Uses a code once: its account (bound, or new) gets the petname, and the caller a token for that account. */
export async function acceptInvitation(
  stores: InvitationStores,
  code: unknown,
  now = Date.now(),
): Promise<AcceptedInvitation> {
  if (typeof code !== "string" || code.trim() === "") throw validation("code must be a non-empty string");
  if (code.length > 200) throw new AppError("NOT_FOUND", "unknown invitation code");
  const codeHash = hashCode(code.trim());
  const invitation = await stores.petnames.findOpenInvitation(codeHash, now);
  const account = invitation.account ?? newAccountId();
  const { stored, secret } = mintToken({ role: "account", account, note: `invitation for ${invitation.petname}` }, now);
  // The token is stored before the code is used and revoked if using it fails (a racing accept won, or the
  // database did), so a used code always has its token and a refused accept leaves only a revoked one.
  await stores.tokens.insert(stored);
  let accepted: Petname;
  try {
    accepted = await stores.petnames.acceptInvitation(codeHash, account, now);
  } catch (error) {
    // Should the revoke fail too, the token is still unusable: its secret dies here, never having been shown.
    await stores.tokens.revoke(stored.id, now).catch(() => null);
    throw error;
  }
  return { account: accepted.account, petname: accepted.name, token: withoutHash(stored), secret };
}
