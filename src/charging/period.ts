// Billing periods: calendar months (or months starting on a chosen day), or N weeks from an anchor, in UTC.

import { validation } from "../domain/errors.js";
import type { Billing } from "./policy.js";

export interface Period {
  /** "2026-11" for a month, the start date "2026-11-02" for weeks. */
  readonly name: string;
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
}

const WEEK_MS = 7 * 86_400_000;

/** The period a name such as "2026-11" (or "2026-11-02" for weekly periods) stands for. */
export function parsePeriod(billing: Billing, name: string): Period {
  if (billing.period === "month") {
    const m = /^(\d{4})-(\d{2})$/.exec(name);
    const y = Number(m?.[1]);
    const mo = Number(m?.[2]);
    if (!m || mo < 1 || mo > 12 || y < 1970 || y > 9998) {
      throw validation(`period "${name.slice(0, 40)}" is not a month like 2026-11`);
    }
    return { name, start: Date.UTC(y, mo - 1, billing.startDay), end: Date.UTC(y, mo, billing.startDay) };
  }
  const start = /^\d{4}-\d{2}-\d{2}$/.test(name) ? Date.parse(`${name}T00:00:00Z`) : Number.NaN;
  const length = billing.weeks * WEEK_MS;
  if (Number.isNaN(start) || (start - billing.anchor) % length !== 0) {
    throw validation(
      `period "${name.slice(0, 40)}" is not the start date of a ${billing.weeks}-week period from ` +
        `${new Date(billing.anchor).toISOString().slice(0, 10)}`,
    );
  }
  return { name, start, end: start + length };
}

/** The period that holds time t. */
export function periodAt(billing: Billing, t: number): Period {
  if (billing.period === "weeks") {
    const length = billing.weeks * WEEK_MS;
    const start = billing.anchor + Math.floor((t - billing.anchor) / length) * length;
    return { name: new Date(start).toISOString().slice(0, 10), start, end: start + length };
  }
  const d = new Date(t);
  let y = d.getUTCFullYear();
  let mo = d.getUTCMonth() + 1;
  if (d.getUTCDate() < billing.startDay) mo -= 1;
  if (mo === 0) {
    mo = 12;
    y -= 1;
  }
  return parsePeriod(billing, `${y}-${String(mo).padStart(2, "0")}`);
}
