// Billing runs and balances on the ledger. Closing a period writes its grants, its adjustments for late usage of
// closed periods and its charge (with the bill as closed) in one batch of entries whose keys are fixed by account and
// period, so a replay writes nothing and a run cut short is completed by running it again.

import { AppError, validation } from "../domain/errors.js";
import { compareUtf8 } from "../domain/rollup.js";
import { hourOf, isoTime } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { accountPages } from "../store/rollup-pages.js";
import type { BillJson, ChargeOptions } from "./bill.js";
import {
  accountAgreements,
  agreementsOfAccounts,
  billingRule,
  type PeriodPricing,
  policyForPeriod,
  priceAccount,
  priceUsage,
  usageForPricing,
} from "./charge-account.js";
import type { ChargingStore, LedgerEntry, LedgerKind } from "./charging-store.js";
import { Decimal } from "./decimal.js";
import { type Period, parsePeriod, periodAt } from "./period.js";
import type { Billing } from "./policy.js";
import { type AccountUsage, type AgreementSpan, CoarseUsage } from "./price.js";

/** An entry's idempotency key: its kind, account and period, and what it refers to; JSON keeps it unambiguous. */
export function ledgerKey(kind: LedgerKind, account: string, period: string, ...parts: (string | number)[]): string {
  return JSON.stringify([kind, account, period, ...parts]);
}

/** What an entry does to the balance: a grant adds, a charge or an adjustment takes its amount. */
function signed(e: LedgerEntry): Decimal {
  const amount = Decimal.parse(e.amount, `ledger entry ${e.key}`);
  return e.kind === "grant" ? amount : amount.neg();
}

/** The account's ledger read once: closed periods (those with a charge) and the entries, in order. */
interface Books {
  readonly entries: readonly LedgerEntry[];
  readonly charges: ReadonlyMap<string, LedgerEntry>;
}

async function books(store: ChargingStore, account: string): Promise<Books> {
  return booksOf(await store.ledger(account));
}

function booksOf(entries: readonly LedgerEntry[]): Books {
  const charges = new Map(entries.filter((e) => e.kind === "charge").map((e) => [e.period, e]));
  return { entries, charges };
}

const sum = (entries: readonly LedgerEntry[]) => entries.reduce((s, e) => s.add(signed(e)), Decimal.ZERO);

/** The period an adjustment entry adjusts, from its key. */
function adjusted(e: LedgerEntry): string {
  return String((JSON.parse(e.key) as unknown[])[3]);
}

/**
 * For each closed period before `period`: its total priced afresh less what it was charged and already adjusted.
 * Late usage (events older than the close) shows up here, never in the closed bill.
 */
async function lateAdjustments(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  b: Books,
  billing: Billing,
  period: Period,
): Promise<{ period: string; credits: Decimal }[]> {
  const out: { period: string; credits: Decimal }[] = [];
  for (const [name, charge] of b.charges) {
    if (parsePeriod(billing, name).start >= period.start) continue;
    let booked = Decimal.parse(charge.amount, `ledger entry ${charge.key}`);
    for (const e of b.entries)
      if (e.kind === "adjustment" && adjusted(e) === name) booked = booked.add(Decimal.parse(e.amount));
    const fresh = Decimal.parse((await priceAccount(store, usage, account, name)).total);
    const diff = fresh.sub(booked);
    if (!diff.isZero()) out.push({ period: name, credits: diff });
  }
  return out.sort((x, y) => (x.period < y.period ? -1 : 1));
}

/**
 * The bill of an open (or not yet closed) period, up to `until`: opening balance from the ledger, late adjustments.
 * The account's agreements and usage of the period are read here unless the caller read them for a page of accounts.
 */
async function openBill(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  b: Books,
  pricing: PeriodPricing,
  options: Pick<ChargeOptions, "until" | "onPriced"> & {
    read?: { agreements: readonly AgreementSpan[]; usages: readonly AccountUsage[] };
  } = {},
): Promise<BillJson> {
  const { billing, period } = pricing;
  const { read, ...charge } = options;
  const before = b.entries.filter((e) => parsePeriod(billing, e.period).start < period.start);
  const adjustments = await lateAdjustments(store, usage, account, b, billing, period);
  const agreements = read?.agreements ?? (await accountAgreements(store, account));
  const byHour = async () =>
    (await usageForPricing(usage, [account], pricing, charge.until)).get(account) as AccountUsage[];
  const price = (usages: readonly AccountUsage[]) =>
    priceUsage(pricing, account, agreements, usages, { opening: sum(before), adjustments, ...charge });
  try {
    return price(read?.usages ?? (await byHour()));
  } catch (e) {
    if (!(e instanceof CoarseUsage)) throw e;
    // Usage read by day where this account's price changes inside a day: read again by hour.
    return price(await byHour());
  }
}

/**
 * The bill of an account for a period: as it was closed, read from the ledger and never rewritten; otherwise priced
 * now, with the opening balance of the closed periods before it. Writes nothing.
 */
export async function billAccount(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  periodName: string,
): Promise<BillJson> {
  return (await accountBill(store, usage, account, periodName)).bill;
}

/** The bill as billAccount gives it, and whether it is the one closed; `onPriced` sees the pricing of one not closed. */
export async function accountBill(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  periodName: string,
  onPriced?: ChargeOptions["onPriced"],
): Promise<{ bill: BillJson; closed: boolean }> {
  const b = await books(store, account);
  const closed = b.charges.get(periodName);
  if (closed) return { bill: JSON.parse(closed.note) as BillJson, closed: true };
  const pricing = await policyForPeriod(store, periodName);
  return { bill: await openBill(store, usage, account, b, pricing, onPriced ? { onPriced } : {}), closed: false };
}

export interface CloseOutcome {
  readonly account: string;
  /** Entries written now; 0 when the period was already closed (a replay). */
  readonly written: number;
  readonly existing: number;
  readonly total: string;
  readonly closing_balance: string;
}

/**
 * Closes a period for an account: its grants, adjustments and charge are written in one batch, all or none. Closing
 * it again writes nothing. Refused while the period has not ended, or when a later period is already closed.
 */
export async function closePeriod(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  periodName: string,
  now: number,
): Promise<CloseOutcome> {
  return (await closeAccounts(store, usage, [account], periodName, now))[0] as CloseOutcome;
}

/**
 * Accounts a billing run closes together, their entries written in one transaction: each transaction waits for the
 * disk, so a run writes as few as it can hold the bills of.
 */
export const RUN_PAGE_ACCOUNTS = 1000;

/** Accounts whose usage a billing run reads at once and prices before reading the next: few, so it stays young. */
const USAGE_READ_ACCOUNTS = 50;

/**
 * A billing run: closes the period for each account, a page of accounts at a time, each page written in one
 * transaction, so a run cut short leaves every account closed or untouched and running it again closes the rest.
 * The ledger it writes is the one closing each account on its own writes.
 */
export async function closeAccounts(
  store: ChargingStore,
  usage: UsageReader,
  accounts: readonly string[],
  periodName: string,
  now: number,
  pageAccounts = RUN_PAGE_ACCOUNTS,
): Promise<CloseOutcome[]> {
  return closePages(store, usage, accounts, await endedPeriod(store, periodName, now), pageAccounts);
}

/** Closes the accounts a page at a time, priced as `pricing` says. */
async function closePages(
  store: ChargingStore,
  usage: UsageReader,
  accounts: readonly string[],
  pricing: PeriodPricing,
  pageAccounts: number,
): Promise<CloseOutcome[]> {
  if (!Number.isInteger(pageAccounts) || pageAccounts < 1) {
    throw validation("a billing run's page must hold at least one account");
  }
  const { billing, period } = pricing;
  const periodName = period.name;
  const out: CloseOutcome[] = [];
  for (let i = 0; i < accounts.length; i += pageAccounts) {
    const page = accounts.slice(i, i + pageAccounts);
    const outcomes = new Map<string, CloseOutcome>();
    const open: { account: string; books: Books }[] = [];
    const ledgers = await store.ledgers([...new Set(page)]);
    for (const [account, entries] of ledgers) {
      const b = booksOf(entries);
      const closed = b.charges.get(periodName);
      if (closed) {
        const bill = JSON.parse(closed.note) as BillJson;
        const mine = b.entries.filter((e) => e.period === periodName).length;
        outcomes.set(account, {
          account,
          written: 0,
          existing: mine,
          total: bill.total,
          closing_balance: bill.closing_balance,
        });
        continue;
      }
      const later = [...b.charges.keys()].find((name) => parsePeriod(billing, name).start > period.start);
      if (later !== undefined) {
        throw new AppError(
          "CONFLICT",
          `account ${account}: period ${later} is already closed, so ${periodName}, before it, can no longer be closed`,
        );
      }
      open.push({ account, books: b });
    }
    const bills: BillJson[] = [];
    for (let j = 0; j < open.length; j += USAGE_READ_ACCOUNTS) {
      const read = open.slice(j, j + USAGE_READ_ACCOUNTS);
      const usages = await usageForPricing(
        usage,
        read.map((o) => o.account),
        pricing,
        undefined,
        "day",
      );
      const agreements = await agreementsOfAccounts(
        store,
        read.map((o) => o.account),
      );
      for (const { account, books: b } of read) {
        const own = {
          agreements: agreements.get(account) as AgreementSpan[],
          usages: usages.get(account) as AccountUsage[],
        };
        bills.push(await openBill(store, usage, account, b, pricing, { read: own }));
      }
    }
    const counts = await store.appendLedgers(bills.map((bill) => closingEntries(bill, period)));
    bills.forEach((bill, j) => {
      const c = counts[j] as { written: number; existing: number };
      outcomes.set(bill.account, {
        account: bill.account,
        ...c,
        total: bill.total,
        closing_balance: bill.closing_balance,
      });
    });
    // An account named again in the page is closed once: its later mentions are replays, as closing again is.
    const seen = new Set<string>();
    for (const account of page) {
      const o = outcomes.get(account) as CloseOutcome;
      out.push(seen.has(account) ? { ...o, written: 0, existing: o.written + o.existing } : o);
      seen.add(account);
    }
  }
  return out;
}

/**
 * The monthly billing run: closes the period for every account that charging or usage knows of, those with a series
 * of a metric the period's policy versions charge, an agreement of their own, a group or a ledger entry.
 */
export async function closeAll(
  store: ChargingStore,
  usage: UsageReader,
  periodName: string,
  now: number,
  pageAccounts = RUN_PAGE_ACCOUNTS,
): Promise<CloseOutcome[]> {
  const pricing = await endedPeriod(store, periodName, now);
  const metrics = new Set(pricing.parts.flatMap((p) => [...p.policy.resources.values()].map((r) => r.metric)));
  const accounts = new Set(await store.accounts());
  for await (const page of accountPages(usage, [...metrics])) for (const account of page) accounts.add(account);
  return closePages(store, usage, [...accounts].sort(compareUtf8), pricing, pageAccounts);
}

/** What prices the period, once it has ended: only an ended period closes. */
async function endedPeriod(store: ChargingStore, periodName: string, now: number): Promise<PeriodPricing> {
  const pricing = await policyForPeriod(store, periodName);
  if (pricing.period.end > now) {
    throw validation(
      `period ${periodName} has not ended (it ends at ${isoTime(pricing.period.end)}); only ended periods close`,
    );
  }
  return pricing;
}

/** What closing writes for a bill: its grants, its adjustments and its charge, under keys fixed by account and period. */
function closingEntries(bill: BillJson, period: Period): LedgerEntry[] {
  const { account } = bill;
  const periodName = period.name;
  return [
    ...bill.grants.map((g, i) => ({
      key: ledgerKey("grant", account, periodName, i, g.creditplan),
      account,
      kind: "grant" as const,
      period: periodName,
      amount: g.credits,
      at: Date.parse(g.at),
      note: `credit plan ${g.creditplan} of agreement ${g.agreement}`,
    })),
    ...bill.adjustments.map((a) => ({
      key: ledgerKey("adjustment", account, periodName, a.period),
      account,
      kind: "adjustment" as const,
      period: periodName,
      amount: a.credits,
      at: period.end,
      note: `late usage of closed period ${a.period}`,
    })),
    {
      key: ledgerKey("charge", account, periodName),
      account,
      kind: "charge",
      period: periodName,
      amount: bill.total,
      at: period.end,
      // The bill as closed: what GET …/bills/<period> shows from now on.
      note: JSON.stringify(bill),
    },
  ];
}

export interface Balance {
  account: string;
  at: string;
  /** The closing balance of the closed periods: the sum of the ledger. */
  closed_balance: string;
  /** The latest closed period, or null. */
  closed_through: string | null;
  open_period: { name: string; start: string; end: string };
  credits_granted: string;
  charges: string;
  adjustments: string;
  balance: string;
}

/**
 * The balance at `now`: the closed periods' closing balance plus, for the open period, its grants so far less its
 * charges for the whole hours so far and any late adjustments. Reads only; periods ended but not closed count nothing.
 */
export async function accountBalance(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  now: number,
): Promise<Balance> {
  const b = await books(store, account);
  const billing = await billingRule(store);
  const open = periodAt(billing, now);
  const bill = await openBill(store, usage, account, b, await policyForPeriod(store, open.name), {
    until: Math.max(hourOf(now), open.start),
  });
  const closed = sum(b.entries);
  const adjusted = bill.adjustments.reduce((s, a) => s.add(Decimal.parse(a.credits)), Decimal.ZERO);
  const granted = Decimal.parse(bill.credits_granted);
  const charges = Decimal.parse(bill.total);
  const latest = [...b.charges.keys()].sort((x, y) => parsePeriod(billing, x).start - parsePeriod(billing, y).start);
  return {
    account,
    at: isoTime(now),
    closed_balance: closed.toString(),
    closed_through: latest.at(-1) ?? null,
    open_period: { name: open.name, start: isoTime(open.start), end: isoTime(open.end) },
    credits_granted: granted.toString(),
    charges: charges.toString(),
    adjustments: adjusted.toString(),
    balance: closed.add(granted).sub(charges).sub(adjusted).toString(),
  };
}
