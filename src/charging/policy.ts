// The charging policy: a YAML document of resources, price lists, algorithms, credit plans and agreements, read
// into checked structures. Every error names the line and the path of what is wrong.

import { isMap } from "yaml";
import { AppError } from "../domain/errors.js";
import { METRIC_NAME } from "../domain/event.js";
import { HOUR_MS } from "../domain/time.js";
import { type Cron, parseCron, type RepeatWindow } from "./cron.js";
import { type Decimal, ROUNDINGS, type Rounding } from "./decimal.js";
import { compileExpression, type Expr } from "./expression.js";
import { type At, type Reader, readDocument } from "./policy-reader.js";
import { parseUnit, type Unit } from "./units.js";
import { timeZone, type Zone } from "./zone.js";

export type CostPolicy = "continuous" | "discrete" | "onoff" | "once";
const COST_POLICIES: readonly CostPolicy[] = ["continuous", "discrete", "onoff", "once"];

export interface Effective {
  /** Epoch ms, inclusive. */
  readonly from: number;
  /** Epoch ms, exclusive; null for no end. */
  readonly to: number | null;
  /** When not empty, the item applies only while one of these windows is open. */
  readonly repeat: readonly RepeatWindow[];
}

export interface Resource {
  readonly name: string;
  readonly unit: Unit;
  readonly costpolicy: CostPolicy;
  readonly complex: boolean;
  readonly metric: string;
}

export interface Pricelist {
  readonly name: string;
  readonly overrides: string | null;
  readonly prices: ReadonlyMap<string, Decimal>;
  readonly effective: Effective;
}

export interface Algorithm {
  readonly name: string;
  readonly overrides: string | null;
  readonly expressions: ReadonlyMap<string, { readonly source: string; readonly expr: Expr }>;
  readonly effective: Effective;
}

export interface CreditPlan {
  readonly name: string;
  readonly overrides: string | null;
  readonly credits: Decimal;
  /** "month": once a billing period, at its start; or a cron, at each of its times. */
  readonly every: "period" | Cron;
  readonly effective: Effective;
}

export interface Agreement {
  readonly name: string;
  readonly pricelist: string | null;
  readonly algorithm: string | null;
  readonly creditplan: string | null;
}

/** The billing periods, and the zone every local time of the policy is read in (periods, date parts, crons). */
export type Billing = { readonly zone: Zone } & (
  | { readonly period: "month"; readonly startDay: number }
  | { readonly period: "weeks"; readonly weeks: number; readonly anchor: number }
);

export interface Policy {
  readonly resources: ReadonlyMap<string, Resource>;
  readonly pricelists: ReadonlyMap<string, Pricelist>;
  readonly algorithms: ReadonlyMap<string, Algorithm>;
  readonly creditplans: ReadonlyMap<string, CreditPlan>;
  readonly agreements: ReadonlyMap<string, Agreement>;
  readonly defaultAgreement: string | null;
  readonly billing: Billing;
  readonly rounding: { readonly digits: number; readonly mode: Rounding };
  readonly monthMs: bigint;
}

/** The largest policy document read: a bound on parsing work, far above any real policy. */
export const MAX_POLICY_BYTES = 1_000_000;

/** Reads and checks a policy document; throws a VALIDATION error naming the line and path of the first problem. */
export function parsePolicy(text: string): Policy {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) {
    throw new AppError("TOO_LARGE", `the policy is larger than ${MAX_POLICY_BYTES} bytes`);
  }
  const { r, root } = readDocument(text);
  return readPolicy(r, root);
}

function readPolicy(r: Reader, root: At): Policy {
  const top = new Map(r.entries(root, "the policy's sections"));
  const known = [
    "resources",
    "pricelists",
    "algorithms",
    "creditplans",
    "agreements",
    "default_agreement",
    "billing",
    "rounding",
    "month_hours",
    "timezone",
    "version",
    "description",
  ];
  for (const [k, at] of top)
    if (!known.includes(k)) throw r.fail(at, `unknown section "${k}" (known: ${known.join(", ")})`);
  const tz = top.get("timezone");
  if (tz) r.zone = r.at(tz, () => timeZone(r.string(tz)));
  const monthAt = top.get("month_hours");
  const monthMs = BigInt(monthAt ? r.integer(monthAt, 1, 24 * 31) : 730) * BigInt(HOUR_MS);
  const rounding = readRounding(r, top.get("rounding"));
  const billing = readBilling(r, top.get("billing"));

  const resources = new Map<string, Resource>();
  for (const at of r.list(top.get("resources") ?? { node: null, path: "resources", offset: 0 })) {
    const res = readResource(r, at, monthMs);
    if (resources.has(res.name)) throw r.fail(at, `resource "${res.name}" is defined twice`);
    resources.set(res.name, res);
  }

  const section = <T extends { name: string }>(key: string, kind: string, read: (at: At) => T): Map<string, T> => {
    const out = new Map<string, T>();
    for (const at of r.list(top.get(key) ?? { node: null, path: key, offset: 0 })) {
      const item = read(at);
      if (out.has(item.name)) throw r.fail(at, `${kind} "${item.name}" is defined twice`);
      out.set(item.name, item);
    }
    return out;
  };
  const pricelists = section("pricelists", "pricelist", (at) =>
    readPricelist(r, r.item(at, "pricelist"), at, resources),
  );
  const algorithms = section("algorithms", "algorithm", (at) =>
    readAlgorithm(r, r.item(at, "algorithm"), at, resources),
  );
  const creditplans = section("creditplans", "creditplan", (at) => readCreditPlan(r, r.item(at, "creditplan"), at));
  // Inline price lists and algorithms of agreements join the others under a name of their own.
  const agreementsRaw = section("agreements", "agreement", (at) =>
    readAgreement(r, r.item(at, "agreement"), at, resources, pricelists, algorithms, creditplans),
  );

  checkOverrides(r, top.get("pricelists"), pricelists, "pricelist");
  checkOverrides(r, top.get("algorithms"), algorithms, "algorithm");
  checkOverrides(r, top.get("creditplans"), creditplans, "creditplan");
  const agreements = resolveAgreements(r, top.get("agreements"), agreementsRaw, pricelists, algorithms, creditplans);

  const defaultAt = top.get("default_agreement");
  const defaultAgreement = defaultAt ? r.name(defaultAt) : null;
  if (defaultAt && defaultAgreement && !agreements.has(defaultAgreement)) {
    throw r.fail(defaultAt, `agreement "${defaultAgreement}" is not defined`);
  }
  return { resources, pricelists, algorithms, creditplans, agreements, defaultAgreement, billing, rounding, monthMs };
}

function only(r: Reader, entries: [string, At][], allowed: readonly string[], what: string): Map<string, At> {
  for (const [k, at] of entries) {
    if (!allowed.includes(k)) throw r.fail(at, `unknown key "${k}" in ${what} (known: ${allowed.join(", ")})`);
  }
  return new Map(entries);
}

function need(r: Reader, keys: Map<string, At>, key: string, at: At): At {
  const found = keys.get(key);
  if (!found) throw r.fail(at, `"${key}" is missing`);
  return found;
}

function readRounding(r: Reader, at: At | undefined): Policy["rounding"] {
  if (!at) return { digits: 2, mode: "half-even" };
  const keys = only(r, r.entries(at, "digits and mode"), ["digits", "mode"], "rounding");
  const digits = keys.get("digits") ? r.integer(keys.get("digits") as At, 0, 18) : 2;
  const modeAt = keys.get("mode");
  const mode = modeAt ? r.string(modeAt) : "half-even";
  if (modeAt && !(ROUNDINGS as readonly string[]).includes(mode)) {
    throw r.fail(modeAt, `must be one of ${ROUNDINGS.join(", ")}`);
  }
  return { digits, mode: mode as Rounding };
}

function readBilling(r: Reader, at: At | undefined): Billing {
  const zone = r.zone;
  if (!at) return { zone, period: "month", startDay: 1 };
  const keys = only(r, r.entries(at, "the billing period"), ["period", "start_day", "weeks", "anchor"], "billing");
  const periodAt = keys.get("period");
  const period = periodAt ? r.string(periodAt) : "month";
  if (period === "month") {
    if (keys.has("weeks") || keys.has("anchor")) throw r.fail(at, "weeks and anchor are for period: weeks");
    return { zone, period, startDay: keys.get("start_day") ? r.integer(keys.get("start_day") as At, 1, 28) : 1 };
  }
  if (period === "weeks") {
    if (keys.has("start_day")) throw r.fail(at, "start_day is for period: month");
    const anchorAt = need(r, keys, "anchor", at);
    const anchor = r.time(anchorAt);
    if (anchor % HOUR_MS !== 0) throw r.fail(anchorAt, "the anchor must be on the hour");
    return { zone, period, weeks: r.integer(need(r, keys, "weeks", at), 1, 52), anchor };
  }
  throw r.fail(periodAt as At, 'must be "month" or "weeks"');
}

function readResource(r: Reader, at: At, monthMs: bigint): Resource {
  const keys = only(
    r,
    r.item(at, "resource"),
    ["name", "unit", "costpolicy", "complex", "metric", "description"],
    "a resource",
  );
  const name = r.name(need(r, keys, "name", at));
  const policyAt = need(r, keys, "costpolicy", at);
  const costpolicy = r.string(policyAt) as CostPolicy;
  if (!COST_POLICIES.includes(costpolicy)) throw r.fail(policyAt, `must be one of ${COST_POLICIES.join(", ")}`);
  const unitAt = need(r, keys, "unit", at);
  const unit = r.at(unitAt, () => parseUnit(r.string(unitAt), monthMs));
  const fits: Record<CostPolicy, boolean> = {
    continuous: unit.measure !== null && unit.timed,
    discrete: unit.measure !== null && !unit.timed,
    onoff: unit.measure === null && unit.timed,
    once: unit.measure !== null && !unit.timed,
  };
  if (!fits[costpolicy]) {
    const want = {
      continuous: "a measure times a time (GB-hour, GiB-month, file-day)",
      discrete: "a measure (GB, request)",
      onoff: "a time (hour, day)",
      once: "a measure (credit, count, GB)",
    }[costpolicy];
    throw r.fail(unitAt, `unit "${unit.text}" does not fit costpolicy ${costpolicy}: it needs ${want}`);
  }
  const metricAt = keys.get("metric");
  const metric = metricAt ? r.string(metricAt) : name;
  if (!METRIC_NAME.test(metric)) {
    throw r.fail(metricAt ?? at, `metric "${metric}" is not a metric name (lower-case words separated by dots)`);
  }
  const complexAt = keys.get("complex");
  return { name, unit, costpolicy, complex: complexAt ? r.boolean(complexAt) : false, metric };
}

function readEffective(r: Reader, at: At | undefined): Effective {
  if (!at) return { from: 0, to: null, repeat: [] };
  const keys = only(r, r.entries(at, "from, to and repeat"), ["from", "to", "repeat"], "effective");
  const from = keys.get("from") ? r.time(keys.get("from") as At) : 0;
  const to = keys.get("to") ? r.time(keys.get("to") as At) : null;
  if (to !== null && to <= from) throw r.fail(keys.get("to") as At, "must be after from");
  const repeat = r.list(keys.get("repeat") ?? { ...at, node: null }).map((w) => {
    const wk = only(r, r.entries(w, "start and end"), ["start", "end"], "a repeat window");
    const cron = (key: string) => {
      const c = need(r, wk, key, w);
      return r.at(c, () => parseCron(r.string(c)));
    };
    return { start: cron("start"), end: cron("end") };
  });
  return { from, to, repeat };
}

const ITEM_KEYS = ["name", "overrides", "effective", "description"];

function resourceKeys(r: Reader, keys: Map<string, At>, resources: ReadonlyMap<string, Resource>, what: string) {
  const out: [string, At][] = [];
  for (const [k, at] of keys) {
    if (ITEM_KEYS.includes(k)) continue;
    if (!resources.has(k)) {
      throw r.fail(at, `"${k}" is not a resource of this policy, nor a key of ${what} (${ITEM_KEYS.join(", ")})`);
    }
    out.push([k, at]);
  }
  return out;
}

function readPricelist(
  r: Reader,
  entries: [string, At][],
  at: At,
  resources: ReadonlyMap<string, Resource>,
  name?: string,
): Pricelist {
  const keys = new Map(entries);
  const prices = new Map<string, Decimal>();
  for (const [k, v] of resourceKeys(r, keys, resources, "a pricelist")) prices.set(k, r.decimal(v));
  return {
    name: name ?? r.name(need(r, keys, "name", at)),
    overrides: keys.get("overrides") ? r.name(keys.get("overrides") as At) : null,
    prices,
    effective: readEffective(r, keys.get("effective")),
  };
}

function readAlgorithm(
  r: Reader,
  entries: [string, At][],
  at: At,
  resources: ReadonlyMap<string, Resource>,
  name?: string,
): Algorithm {
  const keys = new Map(entries);
  const expressions = new Map<string, { source: string; expr: Expr }>();
  for (const [k, v] of resourceKeys(r, keys, resources, "an algorithm")) {
    const raw = r.scalar(v);
    const source = typeof raw === "number" ? r.decimal(v).toString() : r.string(v);
    expressions.set(k, { source, expr: r.at(v, () => compileExpression(source)) });
  }
  return {
    name: name ?? r.name(need(r, keys, "name", at)),
    overrides: keys.get("overrides") ? r.name(keys.get("overrides") as At) : null,
    expressions,
    effective: readEffective(r, keys.get("effective")),
  };
}

function readCreditPlan(r: Reader, entries: [string, At][], at: At, name?: string): CreditPlan {
  const keys = only(r, entries, [...ITEM_KEYS, "credits", "every", "at"], "a creditplan");
  const everyAt = keys.get("every");
  const everyText = everyAt ? r.string(everyAt) : "month";
  const every =
    everyText === "month" || everyText === "period" ? "period" : r.at(everyAt as At, () => parseCron(everyText));
  const atAt = keys.get("at");
  if (atAt && r.string(atAt) !== "start")
    throw r.fail(atAt, 'must be "start": credits are granted at the start of the period');
  return {
    name: name ?? r.name(need(r, keys, "name", at)),
    overrides: keys.get("overrides") ? r.name(keys.get("overrides") as At) : null,
    credits: r.decimal(need(r, keys, "credits", at)),
    every,
    effective: readEffective(r, keys.get("effective")),
  };
}

interface RawAgreement {
  readonly name: string;
  readonly overrides: string | null;
  readonly at: At;
  readonly fields: Map<"pricelist" | "algorithm" | "creditplan", { name: string; at: At }>;
}

/** An agreement; an inline pricelist, algorithm or creditplan is added to its section as "AGREEMENT/pricelist". */
function readAgreement(
  r: Reader,
  entries: [string, At][],
  at: At,
  resources: ReadonlyMap<string, Resource>,
  pricelists: Map<string, Pricelist>,
  algorithms: Map<string, Algorithm>,
  creditplans: Map<string, CreditPlan>,
): RawAgreement {
  const keys = only(
    r,
    entries,
    ["name", "overrides", "pricelist", "algorithm", "creditplan", "description"],
    "an agreement",
  );
  const name = r.name(need(r, keys, "name", at));
  const fields: RawAgreement["fields"] = new Map();
  for (const field of ["pricelist", "algorithm", "creditplan"] as const) {
    const v = keys.get(field);
    if (!v) continue;
    if (!isMap(v.node)) {
      fields.set(field, { name: r.name(v), at: v });
      continue;
    }
    const inline = `${name}/${field}`;
    const inner = r.entries(v, `an inline ${field}`);
    if (field === "pricelist") pricelists.set(inline, readPricelist(r, inner, v, resources, inline));
    else if (field === "algorithm") algorithms.set(inline, readAlgorithm(r, inner, v, resources, inline));
    else creditplans.set(inline, readCreditPlan(r, inner, v, inline));
    fields.set(field, { name: inline, at: v });
  }
  return { name, overrides: keys.get("overrides") ? r.name(keys.get("overrides") as At) : null, at, fields };
}

function checkOverrides(
  r: Reader,
  sectionAt: At | undefined,
  items: ReadonlyMap<string, { name: string; overrides: string | null }>,
  kind: string,
) {
  for (const item of items.values()) {
    const seen = new Set([item.name]);
    for (let p = item.overrides; p !== null; p = items.get(p)?.overrides ?? null) {
      const where = sectionAt ?? { node: null, path: kind, offset: 0 };
      if (!items.has(p)) throw r.fail(where, `${kind} "${item.name}" overrides "${p}", which is not defined`);
      if (seen.has(p)) throw r.fail(where, `${kind} "${item.name}" overrides in a circle through "${p}"`);
      seen.add(p);
    }
  }
}

function resolveAgreements(
  r: Reader,
  sectionAt: At | undefined,
  raw: ReadonlyMap<string, RawAgreement>,
  pricelists: ReadonlyMap<string, unknown>,
  algorithms: ReadonlyMap<string, unknown>,
  creditplans: ReadonlyMap<string, unknown>,
): Map<string, Agreement> {
  checkOverrides(r, sectionAt, raw, "agreement");
  const sections = { pricelist: pricelists, algorithm: algorithms, creditplan: creditplans };
  const out = new Map<string, Agreement>();
  for (const a of raw.values()) {
    const pick = (field: "pricelist" | "algorithm" | "creditplan") => {
      for (let x: RawAgreement | undefined = a; x; x = x.overrides ? raw.get(x.overrides) : undefined) {
        const f = x.fields.get(field);
        if (!f) continue;
        if (!sections[field].has(f.name)) throw r.fail(f.at, `${field} "${f.name}" is not defined`);
        return f.name;
      }
      return null;
    };
    out.set(a.name, {
      name: a.name,
      pricelist: pick("pricelist"),
      algorithm: pick("algorithm"),
      creditplan: pick("creditplan"),
    });
  }
  return out;
}

/** An item and the ones it overrides, most specific first. */
export function chain<T extends { overrides: string | null }>(items: ReadonlyMap<string, T>, name: string | null): T[] {
  const out: T[] = [];
  for (let n = name; n !== null; ) {
    const item = items.get(n);
    if (!item) break;
    out.push(item);
    n = item.overrides;
  }
  return out;
}
