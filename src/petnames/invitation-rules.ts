// Invitations as both adapters read them, and the one rule for when one may be accepted, applied in their transactions.

import { AppError } from "../domain/errors.js";
import type { OpenInvitation } from "./petname-store.js";

/** An invitation as stored. */
export interface StoredInvitation extends OpenInvitation {
  readonly acceptedAt: number | null;
}

/** An invitation's row as the adapters select it, times as their drivers give them (bigint, number or text). */
export interface InvitationRow {
  petname: string;
  account: string | null;
  expires_at: bigint | number | string;
  accepted_at: bigint | number | string | null;
}

export const INVITATION_COLUMNS = "petname, account, expires_at, accepted_at";

export function fromInvitationRow(row: InvitationRow | undefined): StoredInvitation | undefined {
  if (!row) return undefined;
  return {
    petname: row.petname,
    account: row.account,
    expiresAt: Number(row.expires_at),
    acceptedAt: row.accepted_at === null ? null : Number(row.accepted_at),
  };
}

/** The invitation as open at `now`; NOT_FOUND when there is none, CONFLICT when it was used or has expired. */
export function openAt(invitation: StoredInvitation | undefined, now: number): OpenInvitation {
  if (!invitation) throw new AppError("NOT_FOUND", "unknown invitation code");
  if (invitation.acceptedAt !== null) throw new AppError("CONFLICT", "this invitation code has already been used");
  if (invitation.expiresAt <= now) {
    throw new AppError("CONFLICT", `this invitation code expired at ${new Date(invitation.expiresAt).toISOString()}`);
  }
  return { account: invitation.account, petname: invitation.petname, expiresAt: invitation.expiresAt };
}

/**
 * The account an accept records: the one the invitation is bound to must be the one asked for, since the caller
 * has made a token for it.
 */
export function acceptedAccount(invitation: OpenInvitation, account: string): string {
  if (invitation.account !== null && invitation.account !== account) {
    throw new AppError("CONFLICT", "this invitation is bound to another account");
  }
  return account;
}
