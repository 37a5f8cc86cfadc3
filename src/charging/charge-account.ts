// The charging use cases on a store: load a policy version, set an account's agreement, price an account for a
// period (billing-run.ts adds the ledger). The CLI calls these; usage is read only through the UsageReader port.

import { AppError, validation } from "../domain/errors.js";
import { HOUR_MS, isoTime, parseEventTime } from "../domain/time.js";
import { validateAccount } from "../petnames/petname.js";
import type { UsageReader } from "../store/port.js";
import { type BillJson, type ChargeOptions, chargeVersions, type PolicyPart } from "./bill.js";
import { agreementSpans, type ChargingStore, groupAgreementSpans, type PolicyVersion } from "./charging-store.js";
import { Decimal } from "./decimal.js";
import { type Period, parsePeriod } from "./period.js";
import { type Billing, type Policy, parsePolicy } from "./policy.js";
import { type AccountUsage, type AgreementSpan, pricesWholeDays } from "./price.js";
import { type UsageGrain, usageOfAccounts } from "./stored-usage.js";

/** When a version or an agreement starts: RFC 3339 or epoch ms as text, `now` when not given. */
export function startTime(value: string | undefined, what: string, now: number): number {
  if (value === undefined) return now;
  const t = parseEventTime(/^\d+$/.test(value) ? Number(value) : value);
  if (typeof t === "string") throw validation(`${what} ${t}`);
  return t;
}

/** Checks the policy, then stores it as a new version applying from `from`. Nothing is stored if it is not valid. */
export async function loadPolicy(
  store: ChargingStore,
  text: string,
  from: number,
  now: number,
): Promise<PolicyVersion> {
  const policy = parsePolicy(text);
  const first = (await store.policyVersions())[0];
  if (first) {
    const rule = (b: Billing) =>
      `${b.period === "month" ? `months from day ${b.startDay}` : `${b.weeks}-week periods from ${isoTime(b.anchor)}`} in ${b.zone.name}`;
    const was = storedPolicy(first.text).billing;
    // Periods already billed were cut by the first version's rule: another rule would cut them again differently.
    if (rule(policy.billing) !== rule(was)) {
      throw validation(
        `this version's billing periods (${rule(policy.billing)}) differ from the first version's (${rule(was)}); ` +
          "a policy keeps its periods and time zone once loaded",
      );
    }
  }
  return store.addPolicyVersion(text, from, now);
}

/** The policy in force (the latest version loaded) and when each version applies from; NOT_FOUND before any. */
export async function currentPolicy(store: ChargingStore) {
  const { versions, latest } = await latestPolicy(store);
  return {
    version: latest.version,
    from: isoTime(latest.from),
    loaded_at: isoTime(latest.loadedAt),
    text: latest.text,
    versions: versions.map((v) => ({ version: v.version, from: isoTime(v.from) })),
  };
}

/** Stored versions parsed once each: a billing run prices many accounts under the same few versions. */
const parsedVersions = new Map<string, Policy>();
const KEPT_VERSIONS = 16;

function storedPolicy(text: string): Policy {
  let policy = parsedVersions.get(text);
  if (!policy) {
    policy = parsePolicy(text);
    if (parsedVersions.size >= KEPT_VERSIONS) parsedVersions.delete(parsedVersions.keys().next().value as string);
    parsedVersions.set(text, policy);
  }
  return policy;
}

/** The latest policy version, parsed; NOT_FOUND before any is loaded. */
async function latestPolicy(store: ChargingStore) {
  const versions = await store.policyVersions();
  const latest = versions.at(-1);
  if (!latest) throw new AppError("NOT_FOUND", "no policy is loaded: tally policy load FILE first");
  return { versions, latest, policy: storedPolicy(latest.text) };
}

/** Starts an agreement for an account (or a group) at `from`; the name must be one the latest policy defines. */
export async function setAgreement(
  store: ChargingStore,
  subject: string,
  name: string,
  from: number,
  kind: "account" | "group" = "account",
): Promise<void> {
  const { policy } = await latestPolicy(store);
  if (!policy.agreements.has(name)) {
    throw validation(
      `agreement "${name}" is not defined in the loaded policy (it has: ${[...policy.agreements.keys()].join(", ") || "none"})`,
    );
  }
  validateAccount(subject, kind);
  await store.setAgreement({ subject, kind, name, from });
}

/** Puts an account in a group from `from` on, or (`group` null) takes it out of the one it is in. */
export async function setGroup(store: ChargingStore, account: string, group: string | null, from: number) {
  validateAccount(account);
  if (group !== null) validateAccount(group, "group");
  else {
    const latest = (await store.memberships(account)).at(-1);
    if (!latest || latest.group === null) {
      throw validation(`account ${account} is in no group at ${isoTime(from)}: there is nothing to clear`);
    }
  }
  await store.setMembership({ account, group, from });
}

/** An account's group at `now`, and every range it was or will be in one. */
export async function accountGroup(store: ChargingStore, account: string, now: number) {
  const records = await store.memberships(account);
  const ranges = records.map((m, i) => ({ group: m.group, from: m.from, to: records[i + 1]?.from ?? null }));
  const current = ranges.find((r) => r.from <= now && (r.to === null || now < r.to));
  return {
    account,
    group: current?.group ?? null,
    memberships: ranges.map((r) => ({
      group: r.group,
      from: isoTime(r.from),
      to: r.to === null ? null : isoTime(r.to),
    })),
  };
}

/** The agreements that may apply to an account: its own, and its groups' over the ranges it is in each. */
export async function accountAgreements(store: ChargingStore, account: string): Promise<AgreementSpan[]> {
  return (await agreementsOfAccounts(store, [account])).get(account) as AgreementSpan[];
}

/** accountAgreements for several accounts, in three reads whatever their number. */
export async function agreementsOfAccounts(
  store: ChargingStore,
  accounts: readonly string[],
): Promise<Map<string, AgreementSpan[]>> {
  const memberships = await store.membershipsOf(accounts);
  const groupNames = new Set<string>();
  for (const list of memberships.values()) for (const m of list) if (m.group !== null) groupNames.add(m.group);
  const groups = groupNames.size > 0 ? await store.agreementsOf([...groupNames], "group") : new Map();
  const own = await store.agreementsOf(accounts, "account");
  return new Map(
    accounts.map((a) => [
      a,
      [...agreementSpans(own.get(a) ?? []), ...groupAgreementSpans(memberships.get(a) ?? [], groups)],
    ]),
  );
}

/** The billing periods' rule: the first version's, which names the periods of every version. */
export async function billingRule(store: ChargingStore): Promise<Billing> {
  const { versions } = await latestPolicy(store);
  return storedPolicy((versions[0] as PolicyVersion).text).billing;
}

/**
 * The policy versions that price a period, each from the first whole hour it is in effect (as for every change inside
 * an hour) until the next, and the period itself.
 */
export async function policyForPeriod(store: ChargingStore, periodName: string) {
  const { versions } = await latestPolicy(store);
  const billing = storedPolicy((versions[0] as PolicyVersion).text).billing;
  const period = parsePeriod(billing, periodName);
  const inForce = versions.filter((v) => v.from <= period.start).at(-1);
  if (!inForce) throw validation(`no policy version applies at the start of period ${periodName}`);
  const parts = [{ version: inForce.version, from: period.start, policy: storedPolicy(inForce.text) }];
  for (const v of versions) {
    const from = Math.ceil(v.from / HOUR_MS) * HOUR_MS;
    if (v.from <= period.start || from >= period.end) continue;
    // Two versions starting inside the same hour: the later one prices it.
    if (parts.at(-1)?.from === from) parts.pop();
    parts.push({ version: v.version, from, policy: storedPolicy(v.text) });
  }
  return { parts, period, billing };
}

/** What prices a period for every account: read once for a billing run. */
export type PeriodPricing = Awaited<ReturnType<typeof policyForPeriod>>;

/** The hours of the period priced up to `until`: at least its first, so that a bill keeps its shape. */
export function pricedRange(period: Period, until?: number): { from: number; to: number } {
  const end = Math.min(until ?? period.end, period.end);
  return { from: period.start, to: Math.max(end, period.start + HOUR_MS) };
}

/**
 * The bill of an account for a period priced afresh from the stored policy, agreements and usage, up to `until`
 * when given; writes nothing and reads no ledger (its opening balance is the one given).
 */
export async function priceAccount(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  periodName: string,
  options: ChargeOptions & { opening?: Decimal } = {},
): Promise<BillJson> {
  const pricing = await policyForPeriod(store, periodName);
  const usages = (await usageForPricing(usage, [account], pricing, options.until)).get(account) as AccountUsage[];
  return priceUsage(pricing, account, await accountAgreements(store, account), usages, options);
}

/**
 * The usage each account's bill needs, for a page of accounts in one read per policy version: one AccountUsage for
 * each version that prices hours of the period up to `until`, over those hours, read for what that version charges,
 * by hour or (where pricing can take it) the whole days by day.
 */
export async function usageForPricing(
  usage: UsageReader,
  accounts: readonly string[],
  { parts, period }: PeriodPricing,
  until?: number,
  grain: UsageGrain = "hour",
): Promise<Map<string, AccountUsage[]>> {
  const { to } = pricedRange(period, until);
  const out = new Map<string, AccountUsage[]>(accounts.map((a) => [a, []]));
  for (const [i, part] of parts.entries()) {
    const partTo = Math.min(parts[i + 1]?.from ?? to, to);
    if (part.from >= partTo) break;
    // A policy that prices parts of a day differently is read by hour for every account, not day first.
    const byDay = grain === "day" && pricesWholeDays(part.policy, part.from, partTo);
    const read = await usageOfAccounts(usage, accounts, part.policy, part.from, partTo, byDay ? "day" : "hour");
    for (const account of accounts) out.get(account)?.push(read.get(account) as AccountUsage);
  }
  return out;
}

/** The bill of an account from its agreements and the usage usageForPricing read for it. */
export function priceUsage(
  { parts, period }: PeriodPricing,
  account: string,
  agreements: readonly AgreementSpan[],
  usages: readonly AccountUsage[],
  options: ChargeOptions & { opening?: Decimal } = {},
): BillJson {
  const priced: PolicyPart[] = usages.map((accountUsage, i) => {
    const part = parts[i] as PeriodPricing["parts"][number];
    return {
      version: part.version,
      from: part.from,
      input: { policy: part.policy, account, usage: accountUsage, agreements },
    };
  });
  return chargeVersions(priced, period, options.opening ?? Decimal.ZERO, options);
}
