import { describe, expect, it } from "vitest";
import { CounterTable } from "./counter-table.js";

type Row = [hourIndex: number, seriesId: number, count: number, sum: number | bigint];

function rows(table: CounterTable): Row[] {
  const out: Row[] = [];
  table.forEach((hourIndex, seriesId, count, sum) => {
    out.push([hourIndex, seriesId, count, sum]);
  });
  return out;
}

describe("CounterTable", () => {
  it("sums and counts per (series, hour), and gives the rows by hour, then series, however many it grows to", () => {
    const table = new CounterTable(4);
    const expected = new Map<string, Row>();
    for (let i = 0; i < 5_000; i++) {
      const seriesId = 1 + ((i * 7919) % 1_000);
      const hourIndex = 480_000 + (i % 3);
      table.add(seriesId, hourIndex, i);
      const row = expected.get(`${hourIndex}/${seriesId}`) ?? [hourIndex, seriesId, 0, 0];
      expected.set(`${hourIndex}/${seriesId}`, [hourIndex, seriesId, row[2] + 1, (row[3] as number) + i]);
    }
    const sorted = [...expected.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(table.size).toBe(sorted.length);
    expect(rows(table)).toEqual(sorted);
  });

  it("goes on exactly past 2^53, as a bigint, through a growth of the table", () => {
    const table = new CounterTable(2);
    table.add(1, 10, Number.MAX_SAFE_INTEGER);
    table.add(1, 10, 2);
    table.add(2, 10, 12345678901234567890n);
    for (let s = 3; s < 40; s++) table.add(s, 11, 1);
    table.add(1, 10, 1);
    const [first, second] = rows(table);
    expect(first).toEqual([10, 1, 3, BigInt(Number.MAX_SAFE_INTEGER) + 3n]);
    expect(second).toEqual([10, 2, 1, 12345678901234567890n]);
  });

  it("keeps rows centuries apart and series ids beyond 2^32 apart, in the table's order", () => {
    const table = new CounterTable();
    const year9999 = 70_389_527;
    table.add(5, year9999, 1);
    table.add(5, 0, 2);
    table.add(2 ** 40, 0, 3);
    table.add(5, year9999, 4);
    expect(rows(table).sort((a, b) => a[0] - b[0] || a[1] - b[1])).toEqual([
      [0, 5, 1, 2],
      [0, 2 ** 40, 1, 3],
      [year9999, 5, 2, 5],
    ]);
  });

  it("is empty after clear, and takes rows again", () => {
    const table = new CounterTable();
    table.add(1, 1, 1);
    table.add(1, 1, 12345678901234567890n);
    table.clear();
    expect(table.size).toBe(0);
    expect(rows(table)).toEqual([]);
    table.add(1, 1, 7);
    expect(rows(table)).toEqual([[1, 1, 1, 7]]);
  });
});
