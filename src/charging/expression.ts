// The algorithm language: a parser and evaluator of its own (never JavaScript eval), with a check at load time that
// every name is known, every operand has the right type, and no divisor can be zero on valid input.

import { validation } from "../domain/errors.js";
import { Decimal } from "./decimal.js";
import { Ratio } from "./ratio.js";

export type Expr =
  | { readonly k: "num"; readonly v: Ratio }
  | { readonly k: "bool"; readonly v: boolean }
  | { readonly k: "var"; readonly name: Variable }
  | { readonly k: "neg" | "not"; readonly e: Expr }
  | { readonly k: "bin"; readonly op: BinaryOp; readonly l: Expr; readonly r: Expr }
  | { readonly k: "call"; readonly fn: "min" | "max" | "round"; readonly args: readonly Expr[] }
  | { readonly k: "if"; readonly branches: readonly (readonly [Expr, Expr])[]; readonly otherwise: Expr };

type BinaryOp = "+" | "-" | "*" | "/" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "and" | "or";

/** The names an expression may use; date parts are of the slice's start, in UTC. */
export const VARIABLES = ["price", "volume", "unit", "hour", "weekday", "day", "month"] as const;
export type Variable = (typeof VARIABLES)[number];
export const DATE_PARTS: readonly Variable[] = ["hour", "weekday", "day", "month"];

export type Env = Readonly<Record<Variable, Ratio>>;

/** Aquarium's word operators, and the symbols they mean. */
const WORDS: Record<string, BinaryOp> = {
  times: "*",
  plus: "+",
  minus: "-",
  div: "/",
  gt: ">",
  lt: "<",
  ge: ">=",
  gte: ">=",
  le: "<=",
  lte: "<=",
  eq: "==",
  ne: "!=",
  and: "and",
  or: "or",
};
const SYMBOLS: Record<string, BinaryOp> = { "=": "==", "<>": "!=" };
const KEYWORDS = new Set(["if", "then", "elsif", "else", "end", "not", "true", "false"]);
const MAX_LENGTH = 4096;
const MAX_DEPTH = 64;

interface Token {
  readonly text: string;
  readonly at: number;
  readonly type: "num" | "name" | "op" | "end";
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s*(?:(\d+(?:\.\d+)?)|(\$?[A-Za-z_][A-Za-z0-9_]*)|(<=|>=|==|!=|<>|[-+*/(),<>=]))/y;
  let at = 0;
  while (at < source.length) {
    if (/^\s*$/.test(source.slice(at))) break;
    re.lastIndex = at;
    const m = re.exec(source);
    if (!m) {
      const pos = at + (source.slice(at).length - source.slice(at).trimStart().length);
      throw syntax(source, pos, `unexpected "${source[pos]}"`);
    }
    const text = (m[1] ?? m[2] ?? m[3]) as string;
    tokens.push({ text, at: m.index + m[0].length - text.length, type: m[1] ? "num" : m[2] ? "name" : "op" });
    at = re.lastIndex;
  }
  tokens.push({ text: "", at: source.length, type: "end" });
  return tokens;
}

function syntax(source: string, at: number, message: string): Error {
  return validation(`expression "${source}": ${message} at column ${at + 1}`);
}

/** Parses an expression; a syntax error names the column. Call checkExpression before evaluating it. */
export function parseExpression(source: string): Expr {
  if (source.length > MAX_LENGTH) throw validation(`expression is longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(source);
  let i = 0;
  let depth = 0;
  const peek = () => tokens[i] as Token;
  const word = (t: Token) => (t.type === "name" ? t.text.toLowerCase() : t.text);
  const next = () => tokens[i++] as Token;
  const expect = (text: string) => {
    const t = next();
    if (word(t) !== text)
      throw syntax(source, t.at, `expected "${text}" but found ${t.text ? `"${t.text}"` : "the end"}`);
  };
  const binaryOp = (t: Token): BinaryOp | undefined => {
    if (t.type === "op") return SYMBOLS[t.text] ?? (t.text as BinaryOp);
    if (t.type === "name" && Object.hasOwn(WORDS, t.text.toLowerCase())) return WORDS[t.text.toLowerCase()];
    return undefined;
  };
  const level =
    (ops: readonly BinaryOp[], inner: () => Expr, once = false) =>
    (): Expr => {
      let l = inner();
      for (let op = binaryOp(peek()); op && ops.includes(op); op = binaryOp(peek())) {
        const t = next();
        l = { k: "bin", op, l, r: inner() };
        if (once && binaryOp(peek()) && ops.includes(binaryOp(peek()) as BinaryOp)) {
          throw syntax(source, peek().at, `comparisons do not chain; "${t.text}" already compares`);
        }
      }
      return l;
    };
  const unary = (): Expr => {
    const t = peek();
    if (t.text === "-") {
      next();
      return { k: "neg", e: nested(unary) };
    }
    return primary();
  };
  const mul = level(["*", "/"], unary);
  const add = level(["+", "-"], mul);
  const cmp = level(["<", "<=", ">", ">=", "==", "!="], add, true);
  const negation = (): Expr => {
    if (word(peek()) !== "not") return cmp();
    next();
    return { k: "not", e: nested(negation) };
  };
  const and = level(["and"], negation);
  const or = level(["or"], and);
  const nested = (f: () => Expr): Expr => {
    if (++depth > MAX_DEPTH) throw syntax(source, peek().at, `nested more than ${MAX_DEPTH} deep`);
    const e = f();
    depth--;
    return e;
  };
  const primary = (): Expr => {
    const t = next();
    if (t.type === "num") return { k: "num", v: Ratio.of(Decimal.parse(t.text)) };
    if (t.text === "(") {
      const e = nested(or);
      expect(")");
      return e;
    }
    if (t.type === "name") {
      const name = t.text.replace(/^\$/, "").toLowerCase();
      if (name === "true" || name === "false") return { k: "bool", v: name === "true" };
      if (name === "if" && !t.text.startsWith("$")) return nested(ifExpr);
      if (name === "min" || name === "max" || name === "round") {
        expect("(");
        const args = [nested(or)];
        while (peek().text === ",") {
          next();
          args.push(nested(or));
        }
        expect(")");
        return { k: "call", fn: name, args };
      }
      if ((VARIABLES as readonly string[]).includes(name)) return { k: "var", name: name as Variable };
      if (KEYWORDS.has(name) || Object.hasOwn(WORDS, name)) throw syntax(source, t.at, `unexpected "${t.text}"`);
      throw syntax(source, t.at, `unknown name "${t.text}" (known: ${VARIABLES.join(", ")})`);
    }
    throw syntax(source, t.at, t.type === "end" ? "unexpected end" : `unexpected "${t.text}"`);
  };
  const ifExpr = (): Expr => {
    const branches: [Expr, Expr][] = [];
    for (;;) {
      const cond = or();
      expect("then");
      branches.push([cond, or()]);
      const t = next();
      if (word(t) === "elsif") continue;
      if (word(t) === "else") break;
      throw syntax(source, t.at, `expected "elsif" or "else" but found ${t.text ? `"${t.text}"` : "the end"}`);
    }
    const otherwise = or();
    expect("end");
    return { k: "if", branches, otherwise };
  };
  const e = nested(or);
  if (peek().type !== "end") throw syntax(source, peek().at, `unexpected "${peek().text}"`);
  return e;
}

// Sign analysis: the set of signs a number can take, as bits.
const NEG = 1;
const ZERO = 2;
const POS = 4;
const ANY = NEG | ZERO | POS;
type Signs = number;
type SignEnv = Readonly<Record<Variable, Signs>>;

/** The signs each variable can take on valid input: volumes and date parts are never negative; a price may be. */
const VARIABLE_SIGNS: SignEnv = {
  price: ANY,
  volume: ZERO | POS,
  unit: POS,
  hour: ZERO | POS,
  weekday: ZERO | POS,
  day: POS,
  month: POS,
};

function each(a: Signs, b: Signs, f: (x: number, y: number) => Signs): Signs {
  let out = 0;
  for (const x of [NEG, ZERO, POS]) for (const y of [NEG, ZERO, POS]) if (a & x && b & y) out |= f(x, y);
  return out;
}
const sgn = (s: Signs) => (s === NEG ? -1 : s === ZERO ? 0 : 1);
const ofSign = (n: number): Signs => (n < 0 ? NEG : n === 0 ? ZERO : POS);
const sumSigns = (x: Signs, y: Signs): Signs => (x === ZERO ? y : y === ZERO ? x : x === y ? x : ANY);

/** The expression's type; throws naming what is wrong: a type mismatch, or a divisor that can be zero. */
export function checkExpression(source: string, e: Expr): void {
  const type = typeOf(source, e);
  if (type !== "number") throw validation(`expression "${source}" gives true or false, not an amount`);
  signs(source, e, VARIABLE_SIGNS);
}

function typeOf(source: string, e: Expr): "number" | "boolean" {
  const want = (x: Expr, t: "number" | "boolean", what: string) => {
    if (typeOf(source, x) !== t)
      throw validation(`expression "${source}": ${what} needs ${t === "number" ? "a number" : "true or false"}`);
  };
  switch (e.k) {
    case "num":
    case "var":
      return "number";
    case "bool":
      return "boolean";
    case "neg":
      want(e.e, "number", "-");
      return "number";
    case "not":
      want(e.e, "boolean", "not");
      return "boolean";
    case "call":
      if (e.fn === "round" ? e.args.length > 2 : e.args.length < 2) {
        throw validation(
          `expression "${source}": ${e.fn} takes ${e.fn === "round" ? "one or two" : "two or more"} arguments`,
        );
      }
      if (
        e.fn === "round" &&
        e.args[1] &&
        !(e.args[1].k === "num" && e.args[1].v.den === 1n && e.args[1].v.num <= 18n)
      ) {
        throw validation(`expression "${source}": round's second argument must be a whole number of decimals, 0 to 18`);
      }
      for (const a of e.args) want(a, "number", e.fn);
      return "number";
    case "bin":
      if (e.op === "and" || e.op === "or") {
        want(e.l, "boolean", e.op);
        want(e.r, "boolean", e.op);
        return "boolean";
      }
      want(e.l, "number", e.op);
      want(e.r, "number", e.op);
      return ["+", "-", "*", "/"].includes(e.op) ? "number" : "boolean";
    case "if": {
      for (const [c] of e.branches) want(c, "boolean", "if");
      const t = typeOf(source, e.otherwise);
      for (const [, v] of e.branches) want(v, t, "every branch of an if");
      return t;
    }
  }
}

function signs(source: string, e: Expr, env: SignEnv): Signs {
  switch (e.k) {
    case "num":
      return ofSign(e.v.sign());
    case "bool":
      return ANY;
    case "var":
      return env[e.name];
    case "neg":
      return each(signs(source, e.e, env), ZERO, (x) => ofSign(-sgn(x)));
    case "not":
      signs(source, e.e, env);
      return ANY;
    case "call": {
      const all = e.args.map((a) => signs(source, a, env));
      if (e.fn === "round") return each(all[0] as Signs, ZERO, (x) => x | ZERO);
      const pick = e.fn === "min" ? Math.min : Math.max;
      return all.reduce((a, b) => each(a, b, (x, y) => ofSign(pick(sgn(x), sgn(y)))));
    }
    case "bin": {
      const l = signs(source, e.l, env);
      const r = signs(source, e.r, env);
      switch (e.op) {
        case "+":
          return each(l, r, sumSigns);
        case "-":
          return each(l, r, (x, y) => sumSigns(x, ofSign(-sgn(y))));
        case "*":
          return each(l, r, (x, y) => ofSign(sgn(x) * sgn(y)));
        case "/":
          if (r & ZERO) {
            throw validation(
              `expression "${source}" can divide by zero: the divisor must be nonzero for every valid input ` +
                "(a nonzero number, unit, day, month, or a variable an enclosing if has tested against a number)",
            );
          }
          return each(l, r, (x, y) => ofSign(sgn(x) * sgn(y)));
        default:
          return ANY;
      }
    }
    case "if": {
      let out = 0;
      let rest = env;
      for (const [cond, value] of e.branches) {
        signs(source, cond, rest);
        const taken = refine(cond, true, rest);
        if (taken) out |= signs(source, value, taken);
        const skipped = refine(cond, false, rest);
        if (!skipped) return out;
        rest = skipped;
      }
      return out | signs(source, e.otherwise, rest);
    }
  }
}

const FLIP: Record<string, BinaryOp> = { "<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "==" };
const MIRROR: Record<string, BinaryOp> = { "<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!=" };

/** The variables' signs where `cond` has the value `truth`, or null where it cannot. */
function refine(cond: Expr, truth: boolean, env: SignEnv): SignEnv | null {
  if (cond.k === "not") return refine(cond.e, !truth, env);
  if (cond.k === "bin" && (cond.op === "and" || cond.op === "or")) {
    if ((cond.op === "and") === truth) {
      const first = refine(cond.l, truth, env);
      return first && refine(cond.r, truth, first);
    }
    return env; // one of the two holds, not known which
  }
  if (cond.k !== "bin" || !(cond.op in FLIP)) return env;
  let { l, r, op } = cond;
  if (l.k === "num" && r.k === "var") [l, r, op] = [r, l, MIRROR[op] as BinaryOp];
  if (l.k !== "var" || r.k !== "num") return env;
  if (!truth) op = FLIP[op] as BinaryOp;
  const c = r.v.sign();
  const allowed = {
    "<": c > 0 ? ANY : NEG,
    "<=": c >= 0 ? ANY : NEG,
    ">": c < 0 ? ANY : POS,
    ">=": c <= 0 ? ANY : POS,
  }[op as "<"];
  // A comparison with zero itself also admits or rules out zero.
  const withZero =
    op === "=="
      ? ofSign(c)
      : op === "!="
        ? c === 0
          ? NEG | POS
          : ANY
        : c === 0
          ? op === "<="
            ? NEG | ZERO
            : op === ">="
              ? ZERO | POS
              : allowed
          : allowed;
  const s = env[l.name] & withZero;
  return s === 0 ? null : { ...env, [l.name]: s };
}

/** Evaluates a checked expression exactly. */
export function evaluate(e: Expr, env: Env): Ratio {
  const v = value(e, env);
  if (typeof v === "boolean") throw new TypeError("an expression gave true or false");
  return v;
}

function value(e: Expr, env: Env): Ratio | boolean {
  switch (e.k) {
    case "num":
    case "bool":
      return e.v;
    case "var":
      return env[e.name];
    case "neg":
      return (value(e.e, env) as Ratio).neg();
    case "not":
      return !value(e.e, env);
    case "call": {
      const args = e.args.map((a) => value(a, env) as Ratio);
      if (e.fn === "round") return (args[0] as Ratio).round(args[1] ? Number(args[1].num) : 0, "half-even");
      return args.reduce((a, b) => ((e.fn === "min" ? a.cmp(b) <= 0 : a.cmp(b) >= 0) ? a : b));
    }
    case "bin": {
      if (e.op === "and") return (value(e.l, env) as boolean) && (value(e.r, env) as boolean);
      if (e.op === "or") return (value(e.l, env) as boolean) || (value(e.r, env) as boolean);
      const l = value(e.l, env) as Ratio;
      const r = value(e.r, env) as Ratio;
      switch (e.op) {
        case "+":
          return l.add(r);
        case "-":
          return l.sub(r);
        case "*":
          return l.mul(r);
        case "/":
          return l.div(r);
        case "<":
          return l.cmp(r) < 0;
        case "<=":
          return l.cmp(r) <= 0;
        case ">":
          return l.cmp(r) > 0;
        case ">=":
          return l.cmp(r) >= 0;
        case "==":
          return l.cmp(r) === 0;
        default:
          return l.cmp(r) !== 0;
      }
    }
    case "if":
      for (const [cond, v] of e.branches) if (value(cond, env)) return value(v, env);
      return value(e.otherwise, env);
  }
}

/** Whether the expression reads a date part, so that a slice must not span more than one hour. */
export function usesDate(e: Expr): boolean {
  switch (e.k) {
    case "var":
      return DATE_PARTS.includes(e.name);
    case "neg":
    case "not":
      return usesDate(e.e);
    case "bin":
      return usesDate(e.l) || usesDate(e.r);
    case "call":
      return e.args.some(usesDate);
    case "if":
      return e.branches.some(([c, v]) => usesDate(c) || usesDate(v)) || usesDate(e.otherwise);
    default:
      return false;
  }
}

/** Parses and checks: what the policy loader calls for every algorithm. */
export function compileExpression(source: string): Expr {
  const e = parseExpression(source);
  checkExpression(source, e);
  return e;
}
