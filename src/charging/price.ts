// Pricing: a pure function from an account's usage, a policy and its agreements to a bill. Usage is read from the
// hourly rollups the domain computes, or by whole UTC days where nothing priced changes inside a day; each hour is
// priced by what is in effect at its start, and consecutive hours priced alike form one slice.

import { DAY_MS, type DayRow, dayOf } from "../domain/day-usage.js";
import { validation } from "../domain/errors.js";
import type { RollupRow } from "../domain/rollup.js";
import { HOUR_MS, hourOf, isoTime } from "../domain/time.js";
import { occurrences as occurrencesOf, openIntervals } from "./cron.js";
import { Decimal } from "./decimal.js";
import { compileExpression, type Env, type Expr, evaluate, usesDate } from "./expression.js";
import type { Period } from "./period.js";
import { type Algorithm, type CostPolicy, chain, type Effective, type Policy, type Resource } from "./policy.js";
import { Ratio } from "./ratio.js";
import type { Zone } from "./zone.js";

/** An agreement held over [from, to); `source` says whose it is. */
export interface AgreementSpan {
  readonly name: string;
  readonly from: number;
  readonly to: number | null;
  readonly source: "account" | "group" | "default";
  /** The group whose agreement it is, when `source` is "group". */
  readonly group?: string;
}

/**
 * An account's usage as hourly rollups, a level or state's latest reading held to the end of what is priced; where it
 * was read by day, `days` holds the whole UTC days and `rows` only the hours outside them.
 */
export interface AccountUsage {
  readonly rows: readonly RollupRow[];
  readonly days?: readonly DayRow[];
  /** What the bill should say about the usage (a state turned off without being on). */
  readonly notes: readonly string[];
}

export interface PriceInput {
  readonly policy: Policy;
  readonly account: string;
  readonly usage: AccountUsage;
  /** The account's own and group agreements, each list over ranges that do not overlap. */
  readonly agreements: readonly AgreementSpan[];
}

export interface Slice {
  readonly start: number;
  readonly end: number;
  readonly agreement: string;
  readonly pricelist: string | null;
  readonly price: Decimal;
  readonly algorithm: string | null;
  readonly expression: string;
  /** In base units: bytes (or items) × ms for continuous, bytes or items, or ms on. */
  readonly base: bigint;
  /** The values the expression was evaluated with, and its result. */
  readonly env: Env;
  readonly amount: Ratio;
}

export interface Line {
  readonly resource: string;
  readonly instance: string;
  readonly unit: string;
  readonly quantity: Ratio;
  /** The exact sum of the slices' amounts, before the line is rounded. */
  readonly amount: Ratio;
  readonly slices: readonly Slice[];
  /** The base units of each hour priced (of each day, where usage was read by day): what …/explain shows. */
  readonly hours: ReadonlyMap<number, bigint>;
}

export interface Grant {
  readonly at: number;
  readonly creditplan: string;
  readonly agreement: string;
  readonly credits: Decimal;
}

export interface Priced {
  readonly lines: readonly Line[];
  readonly grants: readonly Grant[];
  readonly agreements: readonly AgreementSpan[];
  readonly notes: readonly string[];
}

/**
 * Usage read by day for a policy that prices parts of a day differently (a window or an agreement starting inside
 * it, an algorithm reading the hour): the caller reads that account's usage by hour and prices it again.
 */
export class CoarseUsage extends Error {}

/** The algorithm used where an agreement's algorithms give none for a resource. */
const DEFAULT_SOURCE = "price * volume";
const DEFAULT_EXPR = compileExpression(DEFAULT_SOURCE);

const KIND_OF: Record<CostPolicy, "level" | "counter" | "state"> = {
  continuous: "level",
  discrete: "counter",
  onoff: "state",
  once: "counter",
};

/** Prices the hours of [from, to), both on the hour: lines with their slices, the credits granted, and notes. */
export function priceRange(input: PriceInput, from: number, to: number, grantsFor?: Period): Priced {
  if (from % HOUR_MS !== 0 || to % HOUR_MS !== 0 || to <= from) {
    throw validation("a priced range must start and end on the hour, the end after the start");
  }
  const { policy } = input;
  const agreements = agreementsOver(input, from, to);
  const windows = new WindowCache(from, to, policy.billing.zone);
  // Usage read by day holds the whole days of [from, to) by day and only the hours outside them by hour.
  const wholeDays = { from: Number.POSITIVE_INFINITY, to: Number.NEGATIVE_INFINITY };
  for (const day of input.usage.days ?? []) {
    wholeDays.from = Math.min(wholeDays.from, day.day);
    wholeDays.to = Math.max(wholeDays.to, day.day + DAY_MS);
  }
  const rows = byMetric(input.usage.rows);
  const days = byMetric(input.usage.days ?? []);
  const lines: Line[] = [];
  for (const resource of [...policy.resources.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const perLine = new Map<string, Map<number, bigint>>();
    const add = (row: RollupRow | DayRow, start: number) => {
      if (row.kind !== KIND_OF[resource.costpolicy]) {
        throw validation(
          `resource ${resource.name} (costpolicy ${resource.costpolicy}) charges metric ${resource.metric}, ` +
            `a ${row.kind} here; ${resource.costpolicy} needs a ${KIND_OF[resource.costpolicy]}`,
        );
      }
      const instance = resource.complex ? row.instance : "";
      let buckets = perLine.get(instance);
      if (!buckets) {
        buckets = new Map<number, bigint>();
        perLine.set(instance, buckets);
      }
      const base = row.kind === "counter" ? (row.sum as bigint) : (row.integral as bigint);
      const before = buckets.get(start);
      buckets.set(start, before === undefined ? base : before + base);
    };
    for (const row of rows.get(resource.metric) ?? []) {
      if (row.hour >= from && row.hour < to) add(row, row.hour);
    }
    for (const day of days.get(resource.metric) ?? []) {
      if (day.day + DAY_MS <= from || day.day >= to) continue;
      if (day.day < from || day.day + DAY_MS > to) throw new CoarseUsage(`day ${isoTime(day.day)} crosses the range`);
      add(day, day.day);
    }
    for (const instance of [...perLine.keys()].sort()) {
      const buckets = perLine.get(instance) as Map<number, bigint>;
      // A line with no usage at all (a level of zero, a state off all along) is left out.
      if ([...buckets.values()].every((b) => b === 0n)) continue;
      lines.push(priceLine(policy, resource, instance, buckets, wholeDays, agreements.spans, windows));
    }
  }
  const grants = grantsFor ? grantCredits(policy, grantsFor, agreements.at, windows) : [];
  return { lines, grants, agreements: agreements.spans, notes: [...input.usage.notes] };
}

/** Rows by metric, in their order. */
function byMetric<T extends { readonly metric: string }>(rows: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const list = out.get(row.metric);
    if (list) list.push(row);
    else out.set(row.metric, [row]);
  }
  return out;
}

type AgreementAt = (hour: number) => AgreementSpan;

/**
 * The agreement in effect at each hour (the account's own, else its group's, else the policy's default), and the
 * spans of [from, to) each holds: an agreement set inside an hour takes effect at the next, as for every change.
 */
function agreementsOver(input: PriceInput, from: number, to: number): { at: AgreementAt; spans: AgreementSpan[] } {
  const { policy } = input;
  const order = { account: 0, group: 1, default: 2 };
  const spans = [...input.agreements].sort((a, b) => order[a.source] - order[b.source] || a.from - b.from);
  for (const s of spans) {
    // Only agreements held inside the range must be in this policy: an older version's names may be gone.
    if (s.from >= to || (s.to !== null && s.to <= from)) continue;
    if (!policy.agreements.has(s.name)) throw validation(`agreement "${s.name}" is not defined in the policy`);
  }
  const cache = new Map<number, AgreementSpan>();
  const at: AgreementAt = (hour) => {
    const hit = cache.get(hour);
    if (hit) return hit;
    const found =
      spans.find((s) => s.from <= hour && (s.to === null || hour < s.to)) ??
      (policy.defaultAgreement ? { name: policy.defaultAgreement, from, to, source: "default" as const } : undefined);
    if (!found) {
      throw validation(
        `account ${input.account} has no agreement at ${isoTime(hour)} and the policy names no default_agreement`,
      );
    }
    cache.set(hour, found);
    return found;
  };
  const cuts = new Set([from]);
  for (const s of spans) {
    for (const t of [s.from, s.to]) {
      const hour = t === null ? null : Math.ceil(t / HOUR_MS) * HOUR_MS;
      if (hour !== null && hour > from && hour < to) cuts.add(hour);
    }
  }
  const out: AgreementSpan[] = [];
  const starts = [...cuts].sort((a, b) => a - b);
  starts.forEach((start, i) => {
    const end = starts[i + 1] ?? to;
    const a = at(start);
    const last = out.at(-1);
    if (last && last.name === a.name && last.source === a.source && last.group === a.group) {
      out[out.length - 1] = { ...last, to: end };
    } else out.push({ name: a.name, from: start, to: end, source: a.source, ...groupOf(a) });
  });
  return { at, spans: out };
}

const groupOf = (a: AgreementSpan) => (a.group === undefined ? {} : { group: a.group });

/** Whether an item's timeframe holds at t, repeat windows computed once per item for the range. */
class WindowCache {
  private readonly open = new Map<Effective, [number, number][]>();
  constructor(
    readonly from: number,
    readonly to: number,
    readonly zone: Zone,
  ) {}

  holds(e: Effective, t: number): boolean {
    if (t < e.from || (e.to !== null && t >= e.to)) return false;
    if (e.repeat.length === 0) return true;
    let intervals = this.open.get(e);
    if (!intervals) {
      intervals = openIntervals(e.repeat, this.from, this.to, this.zone);
      this.open.set(e, intervals);
    }
    return intervals.some(([a, b]) => a <= t && t < b);
  }
}

/** What prices a resource in an hour under an agreement; consecutive hours with the same key form one slice. */
interface Resolved {
  readonly key: string;
  readonly agreement: string;
  readonly pricelist: string | null;
  readonly price: Decimal;
  readonly algorithm: Algorithm | null;
  readonly expr: Expr;
  readonly source: string;
}

/**
 * Whether whatever the policy's agreements price over [from, to) holds for whole UTC days: no price list window,
 * algorithm or date-reading expression changes inside a day, so that usage read by day prices as usage by hour.
 */
export function pricesWholeDays(policy: Policy, from: number, to: number): boolean {
  const windows = new WindowCache(from, to, policy.billing.zone);
  for (const agreement of policy.agreements.keys()) {
    for (const resource of policy.resources.values()) {
      for (const run of runsOf(policy, resource, agreement, windows)) {
        if (run.start !== from && run.start % DAY_MS !== 0) return false;
      }
    }
  }
  return true;
}

/** A run of hours of the range that one resolution prices. */
interface Run {
  readonly start: number;
  readonly end: number;
  readonly r: Resolved;
}

/**
 * Runs by the policy's resource, then range and agreement: the same for every account priced over the same range, so a
 * billing run resolves each hour once and not once per account. Dropped with the policy.
 */
const resolved = new WeakMap<Resource, Map<string, Run[]>>();
/** Ranges and agreements kept per resource before the oldest is dropped. */
const KEPT_RESOLUTIONS = 256;

/** The hours of the range of `windows` under an agreement, in runs resolved alike. */
function runsOf(policy: Policy, resource: Resource, agreementName: string, windows: WindowCache): Run[] {
  let byKey = resolved.get(resource);
  if (!byKey) {
    byKey = new Map();
    resolved.set(resource, byKey);
  }
  // The name last: the numbers before it hold no space, so no two keys read alike.
  const key = `${windows.from} ${windows.to} ${agreementName}`;
  const hit = byKey.get(key);
  if (hit) return hit;
  const runs: Run[] = [];
  for (let h = windows.from; h < windows.to; h += HOUR_MS) {
    const r = resolveHour(policy, resource, agreementName, h, windows);
    const last = runs.at(-1);
    if (last && last.r.key === r.key) runs[runs.length - 1] = { ...last, end: h + HOUR_MS };
    else runs.push({ start: h, end: h + HOUR_MS, r });
  }
  if (byKey.size >= KEPT_RESOLUTIONS) byKey.delete(byKey.keys().next().value as string);
  byKey.set(key, runs);
  return runs;
}

function resolveHour(
  policy: Policy,
  resource: Resource,
  agreementName: string,
  h: number,
  windows: WindowCache,
): Resolved {
  const agreement = policy.agreements.get(agreementName);
  if (!agreement) throw validation(`agreement "${agreementName}" is not defined in the policy`);
  const list = chain(policy.pricelists, agreement.pricelist).find(
    (l) => l.prices.has(resource.name) && windows.holds(l.effective, h),
  );
  const algorithm =
    chain(policy.algorithms, agreement.algorithm).find(
      (a) => a.expressions.has(resource.name) && windows.holds(a.effective, h),
    ) ?? null;
  const compiled = algorithm?.expressions.get(resource.name);
  const expr = compiled?.expr ?? DEFAULT_EXPR;
  const price = list?.prices.get(resource.name) ?? Decimal.ZERO;
  return {
    // An algorithm that reads the date sees each hour on its own.
    key: JSON.stringify([
      agreement.name,
      list?.name ?? null,
      price.toString(),
      algorithm?.name ?? null,
      usesDate(expr) ? h : 0,
    ]),
    agreement: agreement.name,
    pricelist: list?.name ?? null,
    price,
    algorithm,
    expr,
    source: compiled?.source ?? DEFAULT_SOURCE,
  };
}

/**
 * A line's slices: the UTC days of the range from the first with usage to the last, cut wherever the agreement or
 * its resolution changes, the parts resolved alike side by side joined, each with the usage of its buckets. A state
 * off or a level of zero for whole days at either end is not shown; whole days, so that a bill is the same whether
 * its usage was read by hour or by day. A bucket (a day) that a cut falls inside cannot be priced: CoarseUsage.
 */
function priceLine(
  policy: Policy,
  resource: Resource,
  instance: string,
  buckets: ReadonlyMap<number, bigint>,
  wholeDays: { readonly from: number; readonly to: number },
  agreements: readonly AgreementSpan[],
  windows: WindowCache,
): Line {
  const used = [...buckets.keys()].filter((start) => buckets.get(start) !== 0n).sort((a, b) => a - b);
  const first = Math.max(windows.from, dayOf(used[0] as number));
  const last = Math.min(windows.to, dayOf(used.at(-1) as number) + DAY_MS);
  const open: { r: Resolved; start: number; end: number; base: bigint }[] = [];
  let next = 0;
  for (const span of agreements) {
    for (const run of runsOf(policy, resource, span.name, windows)) {
      const start = Math.max(run.start, span.from, first);
      const end = Math.min(run.end, span.to ?? run.end, last);
      if (start >= end) continue;
      let base = 0n;
      for (let u = used[next]; u !== undefined && u < end; u = used[++next]) {
        const bucketEnd = u >= wholeDays.from && u < wholeDays.to ? u + DAY_MS : u + HOUR_MS;
        if (bucketEnd > end) throw new CoarseUsage(`a price or agreement changes at ${isoTime(end)}`);
        base += buckets.get(u) as bigint;
      }
      const prev = open.at(-1);
      if (prev && prev.r.key === run.r.key) {
        prev.end = end;
        prev.base += base;
      } else open.push({ r: run.r, start, end, base });
    }
  }
  const size = new Ratio(resource.unit.size);
  let amount = Ratio.ZERO;
  let quantity = Ratio.ZERO;
  const slices: Slice[] = open.map((s) => {
    const { r } = s;
    const volume = new Ratio(s.base).div(size);
    const d = policy.billing.zone.local(s.start);
    const env: Env = {
      price: Ratio.of(r.price),
      volume,
      unit: size,
      hour: Ratio.of(d.hour),
      weekday: Ratio.of(d.weekday),
      day: Ratio.of(d.day),
      month: Ratio.of(d.month),
    };
    const value = evaluate(r.expr, env);
    amount = amount.add(value);
    quantity = quantity.add(volume);
    return {
      start: s.start,
      end: s.end,
      agreement: r.agreement,
      pricelist: r.pricelist,
      price: r.price,
      algorithm: r.algorithm?.name ?? null,
      expression: r.source,
      base: s.base,
      env,
      amount: value,
    };
  });
  return { resource: resource.name, instance, unit: resource.unit.text, quantity, amount, slices, hours: buckets };
}

/** Credits the agreements' credit plans grant in the period: at its start ("every: month"), or at each cron time. */
function grantCredits(policy: Policy, period: Period, agreementAt: AgreementAt, windows: WindowCache): Grant[] {
  const grants: Grant[] = [];
  const seenCron = new Set<string>();
  const planAt = (t: number) => {
    const agreement = policy.agreements.get(agreementAt(hourOf(t)).name);
    const plan = chain(policy.creditplans, agreement?.creditplan ?? null).find((p) => windows.holds(p.effective, t));
    return plan && agreement ? { plan, agreement: agreement.name } : null;
  };
  const atStart = planAt(period.start);
  if (atStart && atStart.plan.every === "period") {
    grants.push({
      at: period.start,
      creditplan: atStart.plan.name,
      agreement: atStart.agreement,
      credits: atStart.plan.credits,
    });
  }
  // Only a plan granting on a cron is looked for hour by hour.
  if ([...policy.creditplans.values()].every((p) => p.every === "period")) return grants;
  for (let h = period.start; h < period.end; h += HOUR_MS) {
    const found = planAt(h);
    if (!found || found.plan.every === "period" || seenCron.has(found.plan.name)) continue;
    seenCron.add(found.plan.name);
    for (const t of occurrencesOf(found.plan.every, period.start, period.end, windows.zone)) {
      const at = planAt(t);
      if (at?.plan === found.plan)
        grants.push({ at: t, creditplan: at.plan.name, agreement: at.agreement, credits: at.plan.credits });
    }
  }
  return grants.sort((a, b) => a.at - b.at);
}
