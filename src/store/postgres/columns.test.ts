// The columns ingest writes with one statement, read back by PostgreSQL exactly as given: every element type, the
// values at the edges of each, the characters an array literal quotes, and nulls. PostgreSQL must be reachable
// (TALLY_TEST_POSTGRES).

import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { columns } from "./columns.js";

const url = process.env.TALLY_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";

interface Row {
  big: string | number | bigint | null;
  int: number | null;
  text: string | null;
  json: string | null;
  num: string | null;
}

const UNNEST = `SELECT b::text, i, t, j, n::text
  FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::jsonb[], $5::numeric[]) WITH ORDINALITY AS u (b, i, t, j, n, o)
  ORDER BY o`;

describe("columns (PostgreSQL)", () => {
  const client = new pg.Client(url);
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  async function roundTrip(rows: readonly Row[]): Promise<unknown[]> {
    const params = columns(rows, (r) => [r.big, r.int, r.text, r.json, r.num]);
    return (await client.query({ text: UNNEST, values: params, rowMode: "array" })).rows;
  }

  const expected = (r: Row) => [
    r.big === null ? null : BigInt(r.big).toString(),
    r.int,
    r.text,
    r.json === null ? null : JSON.parse(r.json),
    r.num === null ? null : BigInt(r.num).toString(),
  ];

  it("reads back every type at its edges, with nulls", async () => {
    const rows: Row[] = [
      { big: 0, int: 0, text: "", json: "{}", num: "0" },
      { big: -1, int: -1, text: 'quote " backslash \\ comma , braces {} NULL', json: '{"a":"b"}', num: "1" },
      {
        big: Number.MAX_SAFE_INTEGER,
        int: 2 ** 31 - 1,
        text: "é ü 中 😀",
        json: '{"site":"é😀"}',
        num: "12345678901234567890123456789",
      },
      { big: Number.MIN_SAFE_INTEGER, int: -(2 ** 31), text: "NULL", json: "[1,2]", num: "99990000" },
      { big: "9223372036854775807", int: null, text: null, json: null, num: null },
      { big: -9223372036854775808n, int: 7, text: "x", json: '"s"', num: "10000" },
      { big: "1785", int: 1, text: " spaced ", json: "null", num: "00042" },
      { big: 1, int: 2, text: "back\\slash", json: '"\\\\"', num: "3" },
      { big: 2, int: 3, text: 'a "quote', json: '{"q":"\\""}', num: "4" },
      { big: null, int: null, text: null, json: null, num: null },
    ];
    expect(await roundTrip(rows)).toEqual(rows.map(expected));
  });

  it("reads back any integers and any text", async () => {
    const row = fc.record({
      big: fc.oneof(
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
        fc.constant(null),
      ),
      int: fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      text: fc.option(
        fc
          .oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme-ascii" }))
          .filter((s) => !s.includes("\u0000")),
      ),
      json: fc.option(fc.dictionary(fc.string(), fc.string()).map((d) => JSON.stringify(d))),
      num: fc.option(fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String)),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 20 }), async (rows) => {
        expect(await roundTrip(rows)).toEqual(rows.map(expected));
      }),
      { numRuns: 100 },
    );
  });
});
