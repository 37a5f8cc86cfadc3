// Billing periods: calendar months (or months starting on a chosen day), or N weeks from an anchor, in the policy's
// time zone: a period starts at a local time, so one across a change to or from summer time is an hour shorter or longer.

import { validation } from "../domain/errors.js";
import type { Billing } from "./policy.js";

export interface Period {
  /** "2026-11" for a month, the local start date "2026-11-02" for weeks. */
  readonly name: string;
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
}

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

/** The period a name such as "2026-11" (or "2026-11-02" for weekly periods) stands for. */
export function parsePeriod(billing: Billing, name: string): Period {
  const { zone } = billing;
  if (billing.period === "month") {
    const m = /^(\d{4})-(\d{2})$/.exec(name);
    const y = Number(m?.[1]);
    const mo = Number(m?.[2]);
    if (!m || mo < 1 || mo > 12 || y < 1970 || y > 9998) {
      throw validation(`period "${name.slice(0, 40)}" is not a month like 2026-11`);
    }
    return {
      name,
      start: zone.instant(Date.UTC(y, mo - 1, billing.startDay)),
      end: zone.instant(Date.UTC(y, mo, billing.startDay)),
    };
  }
  // A weekly period starts at the anchor's local time of day on the date it is named by.
  const anchor = zone.wall(billing.anchor);
  const date = /^\d{4}-\d{2}-\d{2}$/.test(name) ? Date.parse(`${name}T00:00:00Z`) : Number.NaN;
  const start = date + (((anchor % DAY_MS) + DAY_MS) % DAY_MS);
  if (Number.isNaN(start) || (start - anchor) % (billing.weeks * WEEK_MS) !== 0) {
    throw validation(
      `period "${name.slice(0, 40)}" is not the start date of a ${billing.weeks}-week period from ` +
        `${new Date(anchor).toISOString().slice(0, 10)}`,
    );
  }
  return weeks(billing, start);
}

function weeks(billing: Billing & { period: "weeks" }, startWall: number): Period {
  const { zone } = billing;
  return {
    name: new Date(startWall).toISOString().slice(0, 10),
    start: zone.instant(startWall),
    end: zone.instant(startWall + billing.weeks * WEEK_MS),
  };
}

/** The period that holds time t. */
export function periodAt(billing: Billing, t: number): Period {
  const { zone } = billing;
  let found: Period;
  let step: (p: Period, by: 1 | -1) => Period;
  if (billing.period === "weeks") {
    const length = billing.weeks * WEEK_MS;
    const anchor = zone.wall(billing.anchor);
    const startWall = (p: Period) => Date.parse(`${p.name}T00:00:00Z`) + (((anchor % DAY_MS) + DAY_MS) % DAY_MS);
    found = weeks(billing, anchor + Math.floor((zone.wall(t) - anchor) / length) * length);
    step = (p, by) => weeks(billing, startWall(p) + by * length);
  } else {
    const d = zone.local(t);
    const month = (y: number, mo: number) => {
      const first = new Date(Date.UTC(y, mo - 1, 1));
      return parsePeriod(billing, `${first.getUTCFullYear()}-${String(first.getUTCMonth() + 1).padStart(2, "0")}`);
    };
    found = month(d.year, d.day < billing.startDay ? d.month - 1 : d.month);
    step = (p, by) => month(Number(p.name.slice(0, 4)), Number(p.name.slice(5, 7)) + by);
  }
  // Local time runs back for an hour when the clocks go back: a time in that hour may fall before the start found.
  while (t < found.start) found = step(found, -1);
  while (t >= found.end) found = step(found, 1);
  return found;
}
