// …/explain: each line of a bill traced back to what made it (the hourly usage its slices summed, the price list and
// price in effect, the algorithm's expression with the values of its variables, and the result), taken from the same
// pricing run that makes the bill, never from a second pricer.

import { validation } from "../domain/errors.js";
import type { RollupRow } from "../domain/rollup.js";
import { HOUR_MS, isoTime } from "../domain/time.js";
import type { UsageReader } from "../store/port.js";
import { type BillJson, billText, type ChargeOptions, shown } from "./bill.js";
import { accountBill } from "./billing-run.js";
import { policyForPeriod, priceAccount } from "./charge-account.js";
import type { ChargingStore } from "./charging-store.js";
import { Decimal } from "./decimal.js";
import { VARIABLES, type Variable } from "./expression.js";
import type { Line, Priced, PriceInput } from "./price.js";
import { Ratio } from "./ratio.js";

/** Hourly steps listed per line by default, and at most: a month of hours changing every hour fits the default. */
export const DEFAULT_EXPLAIN_STEPS = 800;
export const MAX_EXPLAIN_STEPS = 10_000;

/** Consecutive hours of a slice with the same usage. */
export interface ExplainStep {
  start: string;
  end: string;
  hours: number;
  /** Each hour's quantity in the line's unit, and the step's. */
  quantity_per_hour: string;
  quantity: string;
  /** A level or state: its value at the end of the step (summed over servers), in the metric's own units. */
  level: string | null;
  /** The readings or counter events the step's rollups hold. */
  readings: number;
}

export interface ExplainSlice {
  start: string;
  end: string;
  agreement: string;
  agreement_source: string;
  pricelist: string | null;
  price: string;
  algorithm: string | null;
  expression: string;
  variables: Record<Variable, string>;
  result: string;
  quantity: string;
  steps: ExplainStep[];
  /** Steps left out once the line's limit was reached. */
  steps_cut: number;
}

export interface ExplainLine {
  resource: string;
  instance: string;
  metric: string;
  costpolicy: string;
  unit: string;
  quantity: string;
  /** The exact sum of the slices' results, before the line is rounded to `credits`. */
  amount: string;
  credits: string;
  slices: ExplainSlice[];
}

export interface ExplainJson {
  account: string;
  period: BillJson["period"];
  policy_version: number;
  /** Whether `bill` is the bill as closed; the lines are then priced again now from the same data. */
  closed: boolean;
  bill: BillJson;
  lines: ExplainLine[];
  /** The sum of the lines' credits: the bill's total, unless late usage arrived after it was closed (see notes). */
  total: string;
  step_limit: number;
  notes: string[];
}

/** The step limit from a query or flag: a whole number from 1 to MAX_EXPLAIN_STEPS. */
export function parseStepLimit(text: string | undefined): number {
  if (text === undefined || text === "") return DEFAULT_EXPLAIN_STEPS;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_EXPLAIN_STEPS) {
    throw validation(`limit must be a whole number of steps from 1 to ${MAX_EXPLAIN_STEPS}`);
  }
  return Number(text);
}

/** The explanation of an account's bill for a period: the bill, and its lines traced. Writes nothing. */
export async function explainBill(
  store: ChargingStore,
  usage: UsageReader,
  account: string,
  periodName: string,
  limit = DEFAULT_EXPLAIN_STEPS,
): Promise<ExplainJson> {
  const version = (await policyForPeriod(store, periodName)).parts[0]?.version as number;
  let traced: { priced: Priced; input: PriceInput } | undefined;
  const onPriced: ChargeOptions["onPriced"] = (priced, input) => {
    traced = { priced, input };
  };
  const { bill, closed } = await accountBill(store, usage, account, periodName, onPriced);
  // A closed bill is read, not priced: price it again, on the balance and adjustments it was closed with.
  const pricedBill = closed
    ? await priceAccount(store, usage, account, periodName, {
        opening: Decimal.parse(bill.opening_balance),
        adjustments: bill.adjustments.map((a) => ({ period: a.period, credits: Decimal.parse(a.credits) })),
        onPriced,
      })
    : bill;
  if (!traced) throw new Error("pricing gave no trace");
  const explained = explainPriced(traced.priced, traced.input, pricedBill, limit);
  const notes = [...explained.notes];
  if (closed && pricedBill.total !== bill.total) {
    notes.unshift(
      `this period was closed with charges of ${bill.total}; priced again now, its lines come to ` +
        `${pricedBill.total}: the difference (usage that arrived late, or an agreement set since) is charged as an ` +
        "adjustment in the next period not closed",
    );
  }
  return {
    account,
    period: bill.period,
    policy_version: version,
    closed,
    bill,
    lines: explained.lines,
    total: pricedBill.total,
    step_limit: limit,
    notes,
  };
}

/**
 * The trace of a pricing run: `priced` and `input` as chargePeriod passed them to onPriced, `bill` the bill that run
 * made (its lines in the same order, each rounded once).
 */
export function explainPriced(
  priced: Priced,
  input: PriceInput,
  bill: BillJson,
  limit: number,
): { lines: ExplainLine[]; notes: string[] } {
  const notes: string[] = [];
  const rowsOf = new Map<string, RollupRow[]>();
  for (const row of input.usage.rows) {
    for (const key of [row.metric, JSON.stringify([row.metric, row.instance])]) {
      const list = rowsOf.get(key) ?? [];
      rowsOf.set(key, list);
      list.push(row);
    }
  }
  const lines = priced.lines.map((line, i) => {
    const resource = input.policy.resources.get(line.resource);
    const billed = bill.lines[i];
    if (!resource || !billed || billed.resource !== line.resource || billed.instance !== line.instance) {
      throw new Error(`the bill's line ${i} is not the priced line ${line.resource}`);
    }
    const size = new Ratio(resource.unit.size);
    const rows = rowsOf.get(resource.complex ? JSON.stringify([resource.metric, line.instance]) : resource.metric);
    const usage = hourlyUsage(rows ?? [], line);
    let budget = limit;
    let cut = 0;
    let all = 0;
    const slices = line.slices.map((s) => {
      const steps = stepsOf(line, usage, s.start, s.end, size);
      const kept = steps.slice(0, Math.max(0, budget));
      budget -= kept.length;
      cut += steps.length - kept.length;
      all += steps.length;
      const span = priced.agreements.find((a) => a.from <= s.start && (a.to === null || s.start < a.to));
      return {
        start: isoTime(s.start),
        end: isoTime(s.end),
        agreement: s.agreement,
        agreement_source: span?.source ?? "account",
        pricelist: s.pricelist,
        price: s.price.toString(),
        algorithm: s.algorithm,
        expression: s.expression,
        variables: Object.fromEntries(VARIABLES.map((v) => [v, shown(s.env[v])])) as Record<Variable, string>,
        result: shown(s.amount),
        quantity: shown(new Ratio(s.base).div(size)),
        steps: kept,
        steps_cut: steps.length - kept.length,
      };
    });
    if (cut > 0) {
      notes.push(
        `${lineName(line)}: ${cut} of ${all} hourly steps not shown (the limit is ${limit} a line; ask with a higher limit)`,
      );
    }
    return {
      resource: line.resource,
      instance: line.instance,
      metric: resource.metric,
      costpolicy: resource.costpolicy,
      unit: line.unit,
      quantity: shown(line.quantity),
      amount: shown(line.amount),
      credits: billed.credits,
      slices,
    };
  });
  return { lines, notes };
}

/** "disk", or "vm [i-1]" for an instance of a complex resource. */
export const lineName = (line: { resource: string; instance: string }) =>
  line.instance ? `${line.resource} [${line.instance}]` : line.resource;

interface HourUsage {
  level: bigint | null;
  readings: number;
}

/** Per hour, from the line's rows: a level's or state's value at the hour's end, and the readings. */
function hourlyUsage(rows: readonly RollupRow[], line: Line): Map<number, HourUsage> {
  const out = new Map<number, HourUsage>();
  for (const row of rows) {
    if (!line.hours.has(row.hour)) continue;
    const at = out.get(row.hour) ?? { level: null, readings: 0 };
    out.set(row.hour, {
      level: row.kind === "counter" ? null : (at.level ?? 0n) + (row.last ?? 0n),
      readings: at.readings + row.count,
    });
  }
  return out;
}

/** The hours of [start, end) in runs of the same usage. */
function stepsOf(line: Line, usage: Map<number, HourUsage>, start: number, end: number, size: Ratio): ExplainStep[] {
  const runs: { start: number; end: number; base: bigint; level: bigint | null; readings: number }[] = [];
  for (let h = start; h < end; h += HOUR_MS) {
    const base = line.hours.get(h) ?? 0n;
    const u = usage.get(h) ?? { level: null, readings: 0 };
    const last = runs.at(-1);
    if (last && last.base === base && last.level === u.level) {
      last.end = h + HOUR_MS;
      last.readings += u.readings;
    } else runs.push({ start: h, end: h + HOUR_MS, base, level: u.level, readings: u.readings });
  }
  return runs.map((r) => {
    const hours = (r.end - r.start) / HOUR_MS;
    const perHour = new Ratio(r.base).div(size);
    return {
      start: isoTime(r.start),
      end: isoTime(r.end),
      hours,
      quantity_per_hour: shown(perHour),
      quantity: shown(perHour.mul(Ratio.of(hours))),
      level: r.level === null ? null : r.level.toString(),
      readings: r.readings,
    };
  });
}

/** The explanation as text for a terminal: the bill, then each line's slices with their variables and steps. */
export function explainText(x: ExplainJson): string {
  const out = [billText(x.bill).trimEnd(), "", `policy version ${x.policy_version}; how each line was priced:`];
  for (const line of x.lines) {
    out.push(
      "",
      `${lineName(line)} (${line.costpolicy}, metric ${line.metric}): ${line.quantity} ${line.unit}, ` +
        `exactly ${line.amount}, rounded ${line.credits}`,
    );
    for (const s of line.slices) {
      const vars = VARIABLES.map((v) => `${v}=${s.variables[v]}`).join(" ");
      out.push(
        `  ${s.start} to ${s.end}: agreement ${s.agreement} (${s.agreement_source}), ` +
          `price list ${s.pricelist ?? "none"}, algorithm ${s.algorithm ?? "default"}`,
        `    ${s.expression}  with ${vars}  = ${s.result}`,
      );
      for (const step of s.steps) {
        out.push(
          `    ${step.start} to ${step.end}: ${step.hours} h × ${step.quantity_per_hour} = ${step.quantity} ${line.unit}` +
            `${step.level === null ? "" : `, level ${step.level}`}, ${step.readings} readings`,
        );
      }
      if (s.steps_cut > 0) out.push(`    … ${s.steps_cut} more steps not shown`);
    }
  }
  out.push("", `lines total ${x.total}`);
  for (const note of x.notes) out.push(`note: ${note}`);
  return `${out.join("\n")}\n`;
}
