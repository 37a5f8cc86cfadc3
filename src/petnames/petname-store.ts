// The petname database's storage port: account → human name, filled by hand or by accepted invitations.

export interface Petname {
  readonly account: string;
  readonly name: string;
}

export interface NewInvitation {
  /** SHA-256 of the code, hex: the code itself is never stored. */
  readonly codeHash: string;
  readonly petname: string;
  /** The existing account the invitation is for; absent or null, accepting it names a new account. */
  readonly account?: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** An invitation that can still be accepted. */
export interface OpenInvitation {
  /** The account it is bound to, or null when whoever accepts it chooses a new one. */
  readonly account: string | null;
  readonly petname: string;
  readonly expiresAt: number;
}

export interface PetnameStore {
  /** Petnames of these accounts; accounts without one are absent. */
  get(accounts: readonly string[]): Promise<Map<string, string>>;
  /** Sets every name in one transaction: all or nothing. */
  set(petnames: readonly Petname[]): Promise<void>;
  /** Whether there was a name to remove. */
  remove(account: string): Promise<boolean>;
  createInvitation(invitation: NewInvitation): Promise<void>;
  /**
   * The invitation, if it could be accepted at `now`; changes nothing. Throws as acceptInvitation does for an
   * unknown, used or expired code.
   */
  findOpenInvitation(codeHash: string, now: number): Promise<OpenInvitation>;
  /**
   * Uses the invitation once: records `account` with the invitation's petname and marks the code used, in one
   * transaction. Throws NOT_FOUND for an unknown code, CONFLICT for a used or expired one, or for one bound to an
   * account other than `account`.
   */
  acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname>;
}
