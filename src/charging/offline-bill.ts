// Pricing from files alone, for an operator trying a policy before loading it: the events are read and validated
// by the same code as ingest, into no store.

import { AppError, validation } from "../domain/errors.js";
import { type UsageEvent, validateEvent } from "../domain/event.js";
import { parseEventTime } from "../domain/time.js";
import { missingKinds } from "../ingest/metric-kinds.js";
import { parseEventBody } from "../ingest/parse-body.js";
import { type BillJson, chargePeriod } from "./bill.js";
import { Decimal } from "./decimal.js";
import { usageFromEvents } from "./event-usage.js";
import { parsePeriod } from "./period.js";
import { parsePolicy } from "./policy.js";
import type { AgreementSpan } from "./price.js";

/** Rejected lines listed in the error when a file has bad events: enough to find the pattern. */
const SHOWN_REJECTIONS = 20;
/** A file of events priced offline is read whole; this bounds it (an operator's sample, not a store). */
export const MAX_OFFLINE_EVENTS = 5_000_000;

/** No stored kinds: offline, a custom metric's kind comes from the events themselves, as for a new store. */
const NO_STORE = { metricKinds: async () => ({}) };

export async function readEventFile(body: Uint8Array): Promise<UsageEvent[]> {
  const items = parseEventBody(body, "application/x-ndjson", MAX_OFFLINE_EVENTS);
  const kinds = await missingKinds(NO_STORE, items);
  const events: UsageEvent[] = [];
  const problems: string[] = [];
  items.forEach((item, i) => {
    if ("error" in item) {
      problems.push(item.error);
      return;
    }
    const v = validateEvent(item.raw, item.names, kinds ?? undefined);
    if (v.ok) events.push(v.event);
    else problems.push(`event ${i + 1}${v.id !== undefined ? ` (id ${v.id})` : ""}: ${v.reason}`);
  });
  if (problems.length > 0) {
    const more = problems.length > SHOWN_REJECTIONS ? `\n… and ${problems.length - SHOWN_REJECTIONS} more` : "";
    throw validation(
      `${problems.length} event${problems.length === 1 ? " is" : "s are"} not valid, so nothing was priced:\n` +
        `${problems.slice(0, SHOWN_REJECTIONS).join("\n")}${more}`,
    );
  }
  return events;
}

/**
 * Agreements from `NAME` or `NAME@TIME` (RFC 3339 or epoch ms): each holds from its time (the first from the
 * beginning when it gives none) until the next one's.
 */
export function parseAgreementFlags(flags: readonly string[]): AgreementSpan[] {
  if (flags.length === 0) throw validation("give the account's agreement: --agreement NAME");
  const parsed = flags.map((f, i) => {
    const at = f.indexOf("@");
    const name = at === -1 ? f : f.slice(0, at);
    if (name === "") throw validation(`--agreement "${f}" has no name`);
    if (at === -1) {
      if (i > 0) throw validation(`--agreement "${f}": every agreement after the first needs @TIME`);
      return { name, from: 0 };
    }
    const text = f.slice(at + 1);
    const from = parseEventTime(/^\d+$/.test(text) ? Number(text) : text);
    if (typeof from === "string") throw validation(`--agreement "${f}": time ${from}`);
    return { name, from };
  });
  return parsed.map((p, i) => {
    const next = parsed[i + 1];
    if (next && next.from <= p.from) throw validation("--agreement times must increase, each after the one before");
    return { name: p.name, from: p.from, to: next ? next.from : null, source: "account" as const };
  });
}

export interface OfflineBillRequest {
  readonly policyText: string;
  readonly events: Uint8Array;
  readonly account: string;
  readonly agreements: readonly string[];
  readonly period: string;
  readonly openingBalance?: string;
}

export async function billOffline(req: OfflineBillRequest): Promise<BillJson> {
  const policy = parsePolicy(req.policyText);
  const period = parsePeriod(policy.billing, req.period);
  const agreements = parseAgreementFlags(req.agreements);
  for (const a of agreements) {
    if (!policy.agreements.has(a.name)) {
      throw new AppError(
        "VALIDATION",
        `agreement "${a.name}" is not defined in the policy (it has: ${[...policy.agreements.keys()].join(", ") || "none"})`,
      );
    }
  }
  const events = await readEventFile(req.events);
  const opening = Decimal.parse(req.openingBalance ?? "0", "--opening-balance");
  const usage = usageFromEvents(events, req.account, policy, period.start, period.end);
  return chargePeriod({ policy, account: req.account, usage, agreements }, period, opening);
}
