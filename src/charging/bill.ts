// A bill for (account, period): the priced lines rounded once each by the policy's rule, the credits granted, and
// the balance; as the JSON the API and `tally bill` print, every quantity and amount a decimal string.

import { validation } from "../domain/errors.js";
import { HOUR_MS, isoTime } from "../domain/time.js";
import { Decimal } from "./decimal.js";
import type { Period } from "./period.js";
import { type AgreementSpan, type Grant, type Priced, type PriceInput, priceRange, type Slice } from "./price.js";
import { Ratio } from "./ratio.js";

/** Decimals shown for quantities and for slices' amounts, which are exact fractions rounded half-even for display. */
export const SHOWN_DIGITS = 9;

export interface BillJson {
  account: string;
  agreement: string;
  /** `group` names the group whose agreement it was, when `source` is "group". */
  agreements: { name: string; source: string; group?: string; start: string; end: string }[];
  period: { name: string; start: string; end: string };
  lines: {
    resource: string;
    instance: string;
    quantity: string;
    unit: string;
    credits: string;
    slices: {
      start: string;
      end: string;
      agreement: string;
      pricelist: string | null;
      price: string;
      algorithm: string | null;
      expression: string;
      quantity: string;
      amount: string;
      /** The stored policy version that priced the slice; offline bills have none. */
      policy_version?: number;
    }[];
  }[];
  /** Late usage of closed periods, charged here: the repriced total less what was charged for it (may be negative). */
  adjustments: { period: string; credits: string }[];
  credits_granted: string;
  grants: { at: string; creditplan: string; agreement: string; credits: string }[];
  total: string;
  opening_balance: string;
  closing_balance: string;
  rounding: { digits: number; mode: string };
  notes: string[];
}

export const shown = (r: Ratio) => r.toDecimal(SHOWN_DIGITS, "half-even").normalize().toString();

export interface ChargeOptions {
  /** Price only up to this hour (the open period so far); grants after it are not yet given. */
  readonly until?: number;
  readonly adjustments?: readonly { period: string; credits: Decimal }[];
  /** Given what was priced and from what, the trace behind the bill (…/explain): the same pricing, not a second one. */
  readonly onPriced?: (priced: Priced, input: PriceInput) => void;
}

/** What prices the hours from `from` until the next part's `from`: a stored policy version, or (offline) a policy. */
export interface PolicyPart {
  readonly version: number | null;
  readonly from: number;
  readonly input: PriceInput;
}

/** The bill of one account for one period, from its events, the policy and its agreements alone. */
export function chargePeriod(
  input: PriceInput,
  period: Period,
  openingBalance: Decimal,
  options: ChargeOptions = {},
): BillJson {
  return chargeVersions([{ version: null, from: period.start, input }], period, openingBalance, options);
}

interface MergedLine {
  readonly resource: string;
  readonly instance: string;
  readonly unit: string;
  quantity: Ratio;
  amount: Ratio;
  readonly slices: { slice: Slice; size: Ratio; version: number | null }[];
  /** Each version's hours, disjoint. */
  readonly hours: Map<number, bigint>;
}

/**
 * The bill of one account for a period priced by several policy versions, each for its hours: a line's slices end
 * where a version does, its amount is their exact sum, rounded once by the rule of the version at the period's start.
 */
export function chargeVersions(
  parts: readonly PolicyPart[],
  period: Period,
  openingBalance: Decimal,
  options: ChargeOptions = {},
): BillJson {
  const first = parts[0];
  if (!first) throw validation(`no policy version applies in period ${period.name}`);
  const { digits, mode } = first.input.policy.rounding;
  const end = Math.min(options.until ?? period.end, period.end);
  const last = Math.max(end, period.start + HOUR_MS);
  const merged = new Map<string, MergedLine>();
  let grants: Grant[] = [];
  const agreements: AgreementSpan[] = [];
  const notes = new Set<string>();
  parts.forEach((part, i) => {
    const from = Math.max(part.from, period.start);
    const to = Math.min(parts[i + 1]?.from ?? last, last);
    if (from >= to) return;
    const priced = priceRange(part.input, from, to, period);
    grants = [...grants, ...priced.grants.filter((g) => g.at >= from && g.at < to)];
    for (const a of priced.agreements) {
      const prev = agreements.at(-1);
      if (prev && prev.name === a.name && prev.source === a.source && prev.group === a.group && prev.to === a.from) {
        agreements[agreements.length - 1] = { ...prev, to: a.to };
      } else agreements.push(a);
    }
    for (const n of priced.notes) notes.add(n);
    for (const line of priced.lines) {
      const key = JSON.stringify([line.resource, line.instance]);
      const size = new Ratio(part.input.policy.resources.get(line.resource)?.unit.size ?? 1n);
      const m: MergedLine = merged.get(key) ?? {
        resource: line.resource,
        instance: line.instance,
        unit: line.unit,
        quantity: Ratio.ZERO,
        amount: Ratio.ZERO,
        slices: [],
        hours: new Map(),
      };
      if (m.unit !== line.unit) {
        throw validation(
          `resource ${line.resource} is in ${m.unit} before policy version ${part.version} and in ${line.unit} from ` +
            `it, inside period ${period.name}: a line has one unit, so change a unit at a period's start`,
        );
      }
      m.quantity = m.quantity.add(line.quantity);
      m.amount = m.amount.add(line.amount);
      m.slices.push(...line.slices.map((slice) => ({ slice, size, version: part.version })));
      // Only what explains the bill (onPriced) reads the hours.
      if (options.onPriced) for (const [hour, base] of line.hours) m.hours.set(hour, base);
      merged.set(key, m);
    }
  });
  const byName = (a: MergedLine, b: MergedLine) =>
    a.resource === b.resource ? (a.instance < b.instance ? -1 : 1) : a.resource < b.resource ? -1 : 1;
  // Nothing is charged before the first hour of the period has passed, but the shape stays that of a bill.
  const priced =
    end > period.start
      ? { lines: [...merged.values()].sort(byName), grants: grants.filter((g) => g.at < end) }
      : { lines: [], grants: grants.filter((g) => g.at <= end) };
  options.onPriced?.(
    {
      lines: priced.lines.map((l) => ({ ...l, slices: l.slices.map((s) => s.slice) })),
      grants: priced.grants,
      agreements,
      notes: [...notes],
    },
    first.input,
  );
  let total = Decimal.ZERO.round(digits);
  const lines = priced.lines.map((line) => {
    // The one rounding of a line: its exact amount, to the policy's decimals by its rule.
    const credits = line.amount.toDecimal(digits, mode);
    total = total.add(credits);
    return {
      resource: line.resource,
      instance: line.instance,
      quantity: shown(line.quantity),
      unit: line.unit,
      credits: credits.toString(),
      slices: line.slices.map(({ slice: s, size, version }) => ({
        start: isoTime(s.start),
        end: isoTime(s.end),
        agreement: s.agreement,
        pricelist: s.pricelist,
        price: s.price.toString(),
        algorithm: s.algorithm,
        expression: s.expression,
        quantity: shown(new Ratio(s.base).div(size)),
        amount: shown(s.amount),
        ...(version === null ? {} : { policy_version: version }),
      })),
    };
  });
  const granted = priced.grants.reduce((sum, g) => sum.add(g.credits), Decimal.ZERO);
  const adjustments = options.adjustments ?? [];
  const adjusted = adjustments.reduce((sum, a) => sum.add(a.credits), Decimal.ZERO);
  const opening = openingBalance;
  const closing = opening.add(granted).sub(total).sub(adjusted);
  return {
    account: first.input.account,
    agreement: agreements[0]?.name ?? "",
    agreements: agreements.map((a) => ({
      name: a.name,
      source: a.source,
      ...(a.group === undefined ? {} : { group: a.group }),
      start: isoTime(a.from),
      end: isoTime(a.to ?? period.end),
    })),
    period: { name: period.name, start: isoTime(period.start), end: isoTime(period.end) },
    lines,
    adjustments: adjustments.map((a) => ({ period: a.period, credits: a.credits.toString() })),
    credits_granted: granted.toString(),
    grants: priced.grants.map((g) => ({
      at: isoTime(g.at),
      creditplan: g.creditplan,
      agreement: g.agreement,
      credits: g.credits.toString(),
    })),
    total: total.toString(),
    opening_balance: opening.toString(),
    closing_balance: closing.toString(),
    rounding: { digits, mode },
    notes: [...notes].sort(),
  };
}

/** The bill as text for a terminal. */
export function billText(bill: BillJson): string {
  const out = [
    `bill for ${bill.account}, period ${bill.period.name} (${bill.period.start} to ${bill.period.end})`,
    `agreement: ${bill.agreements.map((a) => `${a.name} (${a.group === undefined ? a.source : `group ${a.group}`}, ${a.start} to ${a.end})`).join("; ")}`,
    "",
  ];
  for (const line of bill.lines) {
    const name = line.instance ? `${line.resource} [${line.instance}]` : line.resource;
    out.push(`${name}: ${line.quantity} ${line.unit} = ${line.credits}`);
    for (const s of line.slices) {
      out.push(
        `  ${s.start} to ${s.end}: ${s.quantity} ${line.unit} at ${s.price} (${s.pricelist ?? "no price list"}; ` +
          `${s.expression}${s.policy_version === undefined ? "" : `; policy version ${s.policy_version}`}) = ${s.amount}`,
      );
    }
  }
  for (const a of bill.adjustments) out.push(`adjustment for closed period ${a.period}: ${a.credits}`);
  out.push(
    "",
    `opening balance ${bill.opening_balance}`,
    `credits granted ${bill.credits_granted}`,
    `charges         ${bill.total}`,
    `closing balance ${bill.closing_balance}`,
  );
  for (const note of bill.notes) out.push(`note: ${note}`);
  return `${out.join("\n")}\n`;
}
