// The charging use cases on a store: load a policy version, set an account's agreement, bill an account for a
// period. The CLI calls these; usage is read only through the UsageReader port.

import { AppError, validation } from "../domain/errors.js";
import type { UsageReader } from "../store/port.js";
import { type BillJson, chargePeriod } from "./bill.js";
import { agreementSpans, type ChargingStore, type PolicyVersion } from "./charging-store.js";
import { Decimal } from "./decimal.js";
import { parsePeriod } from "./period.js";
import { parsePolicy } from "./policy.js";
import { usageFromStore } from "./stored-usage.js";

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

/** The latest policy version, parsed; NOT_FOUND before any is loaded. */
async function latestPolicy(store: ChargingStore) {
  const versions = await store.policyVersions();
  const latest = versions.at(-1);
  if (!latest) throw new AppError("NOT_FOUND", "no policy is loaded: tally policy load FILE first");
  return { versions, latest, policy: parsePolicy(latest.text) };
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

/**
 * The bill of an account for a period, from the stored policy, agreements and usage; writes nothing. A period in
 * which a new policy version starts is refused: pricing across versions is not built.
 */
export async function billAccount(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  periodName: string,
): Promise<BillJson> {
  const { versions } = await latestPolicy(store);
  const first = versions[0] as PolicyVersion;
  const probe = parsePolicy(first.text);
  const period = parsePeriod(probe.billing, periodName);
  const inForce = versions.filter((v) => v.from <= period.start).at(-1);
  if (!inForce) throw validation(`no policy version applies at the start of period ${periodName}`);
  const starting = versions.find((v) => v.from > period.start && v.from < period.end);
  if (starting) {
    throw validation(
      `policy version ${starting.version} starts inside period ${periodName}; a bill across policy versions is not supported yet`,
    );
  }
  const policy = parsePolicy(inForce.text);
  const agreements = agreementSpans(await store.agreements(account, "account"));
  const accountUsage = await usageFromStore(usage, account, policy, period.start, period.end);
  return chargePeriod(
    { policy, account, usage: accountUsage, agreements },
    parsePeriod(policy.billing, periodName),
    Decimal.ZERO,
  );
}
