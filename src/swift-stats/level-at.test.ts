import { describe, expect, it } from "vitest";
import { computeRollups, type RollupRow } from "../domain/rollup.js";
import { HOUR_MS, hourOf } from "../domain/time.js";
import { event } from "../store/contract-events.js";
import { levelAt } from "./level-at.js";

const H = (h: number, m = 0) => Date.UTC(2012, 9, 22, h, m);

/** The rows computeRollups, the reference every store agrees with, derives from readings of one series. */
function rowsOf(readings: readonly [number, bigint][]): Map<number, RollupRow> {
  const events = readings.map(([time, value], i) =>
    event({ id: `r${i}`, server: "s", account: "a", metric: "storage.bytes", kind: "level", time, value }),
  );
  return new Map(computeRollups(events).map((r) => [r.hour, r]));
}

/** levelAt for every hour's start from 00:00 to 23:00, with the latest reading as currentLevels gives it. */
function levels(readings: readonly [number, bigint][]): (bigint | undefined)[] {
  const rows = rowsOf(readings);
  const latest = [...readings].sort((a, b) => a[0] - b[0]).at(-1);
  const out: (bigint | undefined)[] = [];
  for (let at = H(0); at < H(24); at += HOUR_MS) {
    out.push(levelAt(at, rows.get(at - HOUR_MS), rows.get(at), latest ? { time: latest[0], value: latest[1] } : null));
  }
  return out;
}

/** The truth: the latest reading at or before each hour's start. */
function truth(readings: readonly [number, bigint][]): (bigint | undefined)[] {
  const out: (bigint | undefined)[] = [];
  for (let at = H(0); at < H(24); at += HOUR_MS) {
    const before = readings.filter(([t]) => t <= at).sort((a, b) => a[0] - b[0]);
    out.push(before.at(-1)?.[1]);
  }
  return out;
}

describe("levelAt", () => {
  it("gives the latest reading at or before the instant: 07:30 shows from 08:00 on, none at 07:00", () => {
    const got = levels([
      [H(7, 30), 100n],
      [H(8, 30), 200n],
      [H(12, 10), 300n],
    ]);
    expect(got.slice(6, 14)).toEqual([undefined, undefined, 100n, 200n, 200n, 200n, 200n, 300n]);
  });

  it("counts an hourly scan's reading made exactly on the hour at that hour, first, between and latest", () => {
    const readings: [number, bigint][] = [
      [H(7), 4n],
      [H(8), 5n],
      [H(9), 5n],
      [H(10), 0n],
      [H(11), 6n],
    ];
    expect(levels(readings)).toEqual(truth(readings));
    expect(levels(readings).slice(7, 13)).toEqual([4n, 5n, 5n, 0n, 6n, 6n]);
  });

  it("agrees with the readings whenever no series has several readings in an hour that starts with one", () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let trial = 0; trial < 300; trial++) {
      const readings: [number, bigint][] = [];
      for (let hour = 0; hour < 24; hour++) {
        const count = random(4) === 0 ? random(4) : random(2);
        for (let i = 0; i < count; i++) {
          // On the hour only as an hour's one reading; the values repeat often, and 0 comes up.
          const minute = count === 1 && random(2) === 0 ? 0 : 1 + 15 * i + random(14);
          // A first reading of 0 proves nothing of when it came (levelAt says why): the first is never 0 here.
          const value = BigInt(random(4) + (readings.length === 0 ? 1 : 0)) * 2n ** BigInt(random(70));
          readings.push([H(hour, minute), value]);
        }
      }
      expect(levels(readings)).toEqual(truth(readings));
    }
  });

  it("answers the level just before the instant when a series has several readings in the hour it starts", () => {
    const got = levels([
      [H(7, 30), 1n],
      [H(8), 2n],
      [H(8, 30), 3n],
    ]);
    expect(got.slice(7, 10)).toEqual([undefined, 1n, 3n]);
  });

  it("takes the latest reading's own time, whatever the rows say", () => {
    expect(levelAt(H(9), undefined, undefined, { time: H(9), value: 7n })).toBe(7n);
    expect(
      levelAt(
        H(9),
        { count: 1, last: 6n, integral: 0n },
        { count: 1, last: 7n, integral: 0n },
        {
          time: H(9, 1),
          value: 7n,
        },
      ),
    ).toBe(6n);
    expect(hourOf(H(9, 1))).toBe(H(9));
  });
});
