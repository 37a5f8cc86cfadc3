import { describe, expect, it } from "vitest";
import { Decimal } from "./decimal.js";
import { compileExpression, type Env, evaluate, usesDate } from "./expression.js";
import { Ratio } from "./ratio.js";

const env = (over: Partial<Record<keyof Env, string>> = {}): Env => {
  const base = { price: "0.01", volume: "100", unit: "1", hour: "3", weekday: "2", day: "10", month: "11", ...over };
  return Object.fromEntries(Object.entries(base).map(([k, v]) => [k, Ratio.of(Decimal.parse(v))])) as unknown as Env;
};
const run = (src: string, over: Partial<Record<keyof Env, string>> = {}) =>
  evaluate(compileExpression(src), env(over)).toDecimal(6).normalize().toString();

describe("the algorithm language", () => {
  it("evaluates Aquarium's spellings and ours alike", () => {
    expect(run("$price times $volume")).toBe("1");
    expect(run("price * volume")).toBe("1");
    expect(run("price * volume + 2 * 3 - 1")).toBe("6");
    expect(run("-(price) * volume")).toBe("-1");
    expect(run("(1 + 2) * 3 / 4")).toBe("2.25");
    expect(run("1 / 3 * 3")).toBe("1");
  });
  it("has comparisons, and/or/not, min/max/round and if/elsif/else", () => {
    const tiered =
      "if volume gt 1000 then price * volume * 0.5 elsif volume >= 100 then price * volume * 0.8 else price * volume end";
    expect(run(tiered, { volume: "50" })).toBe("0.5");
    expect(run(tiered, { volume: "100" })).toBe("0.8");
    expect(run(tiered, { volume: "2000" })).toBe("10");
    expect(run("if hour >= 22 or hour < 6 then 0 else price * volume end", { hour: "23" })).toBe("0");
    expect(run("if not (weekday = 0 or weekday = 6) and month != 12 then 1 else 2 end")).toBe("1");
    expect(run("if not weekday eq 2 then 1 else 2 end")).toBe("2");
    expect(run("min(price * volume, 0.5)")).toBe("0.5");
    expect(run("max(volume, 1, 200)")).toBe("200");
    expect(run("round(2.5)")).toBe("2");
    expect(run("round(3.5)")).toBe("4");
    expect(run("round(price * 1.234, 3)", { price: "1" })).toBe("1.234");
    expect(run("round(0.0125, 3)")).toBe("0.012");
    expect(run("if day lte 15 and true then day else month end")).toBe("10");
  });
  it("rejects what does not parse, naming the column", () => {
    expect(() => compileExpression("price times")).toThrow('expression "price times": unexpected end at column 12');
    expect(() => compileExpression("price ** 2")).toThrow("column 8");
    expect(() => compileExpression("price # 2")).toThrow('unexpected "#" at column 7');
    expect(() => compileExpression("if volume gt 1 then 2 end")).toThrow('expected "elsif" or "else"');
    expect(() => compileExpression("1 < 2 < 3")).toThrow("comparisons do not chain");
    expect(() => compileExpression("(price")).toThrow('expected ")"');
    expect(() => compileExpression("price volume")).toThrow('unexpected "volume"');
    expect(() => compileExpression("(".repeat(100))).toThrow("nested more than");
  });
  it("rejects unknown names and wrong types", () => {
    expect(() => compileExpression("$price times $quantity")).toThrow('unknown name "$quantity"');
    expect(() => compileExpression("eval(1)")).toThrow('unknown name "eval"');
    expect(() => compileExpression("price gt 1")).toThrow("gives true or false");
    expect(() => compileExpression("price and 1")).toThrow("and needs true or false");
    expect(() => compileExpression("if price then 1 else 2 end")).toThrow("if needs true or false");
    expect(() => compileExpression("if price > 1 then true else 2 end")).toThrow("every branch");
  });
  it("rejects a divisor that can be zero on valid input", () => {
    for (const src of [
      "price / 0",
      "price / volume",
      "volume / price",
      "price / (day - 1)",
      "price / hour",
      "1 / round(day / 2)",
      "1 / min(day, volume)",
      "1 / (0 * day)",
    ]) {
      expect(() => compileExpression(src), src).toThrow("can divide by zero");
    }
    expect(() => compileExpression("price / 2")).not.toThrow();
    expect(() => compileExpression("price / unit / day / month")).not.toThrow();
    expect(() => compileExpression("price / max(volume, 1)")).not.toThrow();
    expect(() => compileExpression("price / (day + volume)")).not.toThrow();
    // A test in an enclosing if rules zero out.
    expect(() => compileExpression("if volume gt 0 then price / volume else 0 end")).not.toThrow();
    expect(() => compileExpression("if volume = 0 then 0 else price / volume end")).not.toThrow();
    expect(() => compileExpression("if 0 < hour then 1 / hour else 0 end")).not.toThrow();
    expect(() => compileExpression("if hour > 3 and volume > 0 then 1 / hour / volume else 0 end")).not.toThrow();
    expect(() => compileExpression("if volume >= 0 then price / volume else 0 end")).toThrow("can divide by zero");
    expect(() => compileExpression("if volume > 0 or hour > 0 then price / volume else 0 end")).toThrow(
      "can divide by zero",
    );
    expect(run("if volume gt 0 then price / volume else 0 end", { volume: "0" })).toBe("0");
  });
  it("knows when it reads the date", () => {
    expect(usesDate(compileExpression("price * volume"))).toBe(false);
    expect(usesDate(compileExpression("if hour > 2 then 1 else 0 end"))).toBe(true);
  });
});
