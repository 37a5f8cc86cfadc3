import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { UsageEvent } from "./event.js";
import {
  appendReading,
  compareReadings,
  compareUtf8,
  computeRollups,
  fillHeldGaps,
  type HeldRow,
  heldRows,
  type Reading,
  type RollupRow,
} from "./rollup.js";
import { HOUR_MS, hourOf } from "./time.js";

describe("compareUtf8", () => {
  // Surrogate pairs, lone surrogates (encoded as U+FFFD), U+FFFD itself and characters on both sides of the
  // surrogate range: where UTF-16 order and UTF-8 byte order part.
  const edge = fc.constantFrom(
    "a",
    "b",
    "é",
    "\uD7FF",
    "\uE000",
    "\uFFFD",
    "\uFFFF",
    "\uD800",
    "\uDC00",
    "😀",
    "\uD83D",
  );
  const text = fc
    .array(fc.oneof(edge, fc.string({ unit: "binary", maxLength: 2 })), { maxLength: 6 })
    .map((parts) => parts.join(""));

  it("orders strings as their UTF-8 bytes", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(compareUtf8(a, b)).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("held rows kept open", () => {
  const T0 = Date.UTC(2026, 0, 1);
  const key = {
    server: "s",
    account: "a",
    metric: "storage.bytes",
    instance: "",
    dims: {},
    kind: "level" as const,
    sum: null,
  };
  const readingsOf = fc
    .uniqueArray(fc.integer({ min: 0, max: 6 * HOUR_MS }), { minLength: 1, maxLength: 30 })
    .chain((times) =>
      fc.tuple(
        fc.constant(times),
        fc.array(fc.bigInt({ min: 0n, max: 1n << 70n }), { minLength: times.length, maxLength: times.length }),
      ),
    )
    .map(([times, values]) =>
      times.map((t, i) => ({ time: T0 + t, id: `r${i}`, value: values[i] as bigint })).sort(compareReadings),
    );

  /** What a store reads back: its open rows, closed and their gaps filled in by fillHeldGaps. */
  const read = (rows: readonly HeldRow[]): RollupRow[] => {
    const openAt = Float64Array.from(rows, (r) => r.lastTime);
    return fillHeldGaps(
      rows.map(({ lastTime: _, lastId: __, ...r }) => ({ ...key, ...r })),
      undefined,
      openAt,
    );
  };
  const reference = (readings: readonly Reading[]) =>
    computeRollups(readings.map((r): UsageEvent => ({ ...key, ...r, dims: null })));

  it("appended one reading at a time read back as computeRollups", () => {
    fc.assert(
      fc.property(readingsOf, (readings) => {
        const rows = new Map<number, HeldRow>();
        let last: Reading | null = null;
        for (const r of readings) {
          const row = appendReading(last, last ? (rows.get(hourOf(last.time)) ?? null) : null, r);
          rows.set(row.hour, row);
          last = r;
        }
        expect(read([...rows.values()])).toEqual(reference(readings));
      }),
    );
  });

  it("recomputed for any window of hours read back as computeRollups", () => {
    fc.assert(
      fc.property(readingsOf, fc.nat(6), fc.nat(6), (readings, a, b) => {
        const fromHour = T0 + Math.min(a, b) * HOUR_MS;
        const toHour = T0 + Math.max(a, b) * HOUR_MS;
        const rows = new Map(heldRows(null, readings, T0, T0 + 6 * HOUR_MS, null, true).map((r) => [r.hour, r]));
        for (const hour of rows.keys()) if (hour >= fromHour && hour <= toHour) rows.delete(hour);
        const carry = readings.filter((r) => r.time < fromHour).at(-1) ?? null;
        const inside = readings.filter((r) => r.time >= fromHour && r.time < toHour + HOUR_MS);
        const next = readings.find((r) => r.time >= toHour + HOUR_MS)?.time ?? null;
        for (const row of heldRows(carry, inside, fromHour, toHour, next, true)) rows.set(row.hour, row);
        expect(read([...rows.values()].sort((x, y) => x.hour - y.hour))).toEqual(reference(readings));
      }),
    );
  });

  it("refuses to append in the latest reading's hour without that hour's row", () => {
    const r = { time: T0 + 10, id: "b", value: 1n };
    expect(() => appendReading({ time: T0, id: "a", value: 1n }, null, r)).toThrow(/row of the latest/);
  });
});
