// The petname database's storage port: account → human name, filled by hand or by accepted invitations.

export interface Petname {
  readonly account: string;
  readonly name: string;
}

export interface NewInvitation {
  /** SHA-256 of the code, hex: the code itself is never stored. */
  readonly codeHash: string;
  readonly petname: string;
  readonly createdAt: number;
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
   * Uses the invitation once: records `account` with the invitation's petname and marks the code used, in one
   * transaction. Throws NOT_FOUND for an unknown code, CONFLICT for a used or expired one.
   */
  acceptInvitation(codeHash: string, account: string, now: number): Promise<Petname>;
}
