// The periods an account page links to a bill for: the open one and those just before it, each closed or not.

import { AppError } from "../domain/errors.js";
import { billingRule } from "./charge-account.js";
import type { ChargingStore } from "./charging-store.js";
import { periodAt } from "./period.js";

export interface RecentBill {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** open: `now` is in it; closed: in the ledger; ended: over, not closed yet. */
  readonly state: "open" | "closed" | "ended";
  /** What the ledger charged for a closed period. */
  readonly charged: string | null;
}

/** The open period and the `before` periods before it, newest first; none while no policy is loaded. Reads only. */
export async function recentBills(
  store: ChargingStore,
  account: string,
  now: number,
  before = 3,
): Promise<RecentBill[]> {
  let billing: Awaited<ReturnType<typeof billingRule>>;
  try {
    billing = await billingRule(store);
  } catch (error) {
    if (error instanceof AppError && error.code === "NOT_FOUND") return [];
    throw error;
  }
  const charges = new Map(
    (await store.ledger(account)).filter((e) => e.kind === "charge").map((e) => [e.period, e.amount]),
  );
  const out: RecentBill[] = [];
  let period = periodAt(billing, now);
  for (let i = 0; i <= before; i++) {
    const charged = charges.get(period.name) ?? null;
    const state = i === 0 ? "open" : charged === null ? "ended" : "closed";
    out.push({ name: period.name, start: period.start, end: period.end, state, charged });
    period = periodAt(billing, period.start - 1);
  }
  return out;
}
