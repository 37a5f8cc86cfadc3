// The charging use cases on a store: load a policy version, set an account's agreement, price an account for a
// period (billing-run.ts adds the ledger). The CLI calls these; usage is read only through the UsageReader port.

import { AppError, validation } from "../domain/errors.js";
import { HOUR_MS, isoTime, parseEventTime } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { type BillJson, type ChargeOptions, chargePeriod } from "./bill.js";
import { agreementSpans, type ChargingStore, type PolicyVersion } from "./charging-store.js";
import { Decimal } from "./decimal.js";
import { type Period, parsePeriod } from "./period.js";
import { type Billing, type Policy, parsePolicy } from "./policy.js";
import type { AccountUsage, AgreementSpan } from "./price.js";
import { usageFromStore } from "./stored-usage.js";

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
  parsePolicy(text);
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
  await store.setAgreement({ subject, kind, name, from });
}

/** The billing periods' rule: the first version's, which names the periods of every version. */
export async function billingRule(store: ChargingStore): Promise<Billing> {
  const { versions } = await latestPolicy(store);
  return storedPolicy((versions[0] as PolicyVersion).text).billing;
}

/** The policy version that prices a period, and the period itself; refused when a new version starts inside it. */
export async function policyForPeriod(store: ChargingStore, periodName: string) {
  const { versions } = await latestPolicy(store);
  const billing = storedPolicy((versions[0] as PolicyVersion).text).billing;
  const period = parsePeriod(billing, periodName);
  const inForce = versions.filter((v) => v.from <= period.start).at(-1);
  if (!inForce) throw validation(`no policy version applies at the start of period ${periodName}`);
  const starting = versions.find((v) => v.from > period.start && v.from < period.end);
  if (starting) {
    throw validation(
      `policy version ${starting.version} starts inside period ${periodName}; a bill across policy versions is not supported yet`,
    );
  }
  const policy = storedPolicy(inForce.text);
  return { policy, period: parsePeriod(policy.billing, periodName), billing };
}

/** What prices a period for every account: read once for a billing run. */
export type PeriodPricing = Awaited<ReturnType<typeof policyForPeriod>>;

/** The account's own agreements, as spans. */
export async function accountAgreements(store: ChargingStore, account: string): Promise<AgreementSpan[]> {
  return agreementSpans(await store.agreements(account, "account"));
}

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
  const { from, to } = pricedRange(pricing.period, options.until);
  const accountUsage = await usageFromStore(usage, account, pricing.policy, from, to);
  return priceUsage(pricing, account, await accountAgreements(store, account), accountUsage, options);
}

/** The bill of an account from its agreements and its usage over pricedRange, already read. */
export function priceUsage(
  { policy, period }: PeriodPricing,
  account: string,
  agreements: readonly AgreementSpan[],
  usage: AccountUsage,
  options: ChargeOptions & { opening?: Decimal } = {},
): BillJson {
  return chargePeriod({ policy, account, usage, agreements }, period, options.opening ?? Decimal.ZERO, options);
}
