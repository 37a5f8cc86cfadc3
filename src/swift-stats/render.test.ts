import { describe, expect, it } from "vitest";
import { zeroCounters, zeroSpace } from "./fields.js";
import type { SwiftStatsQuery } from "./query.js";
import { exactJson, render, xmlEscape } from "./render.js";

const H8 = Date.UTC(2012, 9, 22, 8);
const query = (format: "json" | "xml", account = "acc"): SwiftStatsQuery => ({
  method: "io_sum",
  account,
  fromHour: H8,
  toHour: H8 + 7_200_000,
  format,
  fill: "none",
});

describe("render", () => {
  it("answers io_sum as [header, counters] in the seed's names and order, exact beyond 2^53", () => {
    const data = { ...zeroCounters(), GET: 3n, Bytes_In: 2n ** 70n };
    const { body, contentType } = render(query("json"), { method: "io_sum", data });
    expect(contentType).toBe("application/json; charset=utf-8");
    expect(body).toBe(
      '[{"Account_ID":"acc","Begin Time":"2012-10-22 08:00:00","End Time":"2012-10-22 10:00:00"},' +
        '{"Bytes_In":1180591620717411303424,"Bytes_Out":0,"DELETE":0,"GET":3,"HEAD":0,"OTHER":0,"POST":0,"PUT":0}]',
    );
    // Valid JSON, and exact for a reader that keeps big integers.
    expect(() => JSON.parse(body)).not.toThrow();
    expect(body).toContain(String(2n ** 70n));
  });

  it("keys io_detail and space_detail by hour", () => {
    const io = render(query("json"), { method: "io_detail", data: [[H8, { ...zeroCounters(), PUT: 1n }]] });
    expect(JSON.parse(io.body)[1]).toEqual({
      "2012-10-22 08:00:00": { ...JSON.parse(exactJson({ ...zeroCounters() })), PUT: 1 },
    });
    const space = render(query("json"), { method: "space_detail", data: [[H8, { ...zeroSpace(), Space: 5n }]] });
    expect(space.body).toContain('{"2012-10-22 08:00:00":{"Space":5,"Container":0,"Object":0}}');
  });

  it("writes well-formed XML with every text escaped", () => {
    const { body, contentType } = render(query("xml", `a<&>"'\u0001b`), {
      method: "space_detail",
      data: [[H8, { Space: 2n ** 64n, Container: 1n, Object: 2n }]],
    });
    expect(contentType).toBe("application/xml; charset=utf-8");
    expect(body).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<space_detail>",
        "  <header>",
        "    <Account_ID>a&lt;&amp;&gt;&quot;&apos;\ufffdb</Account_ID>",
        "    <Begin_Time>2012-10-22 08:00:00</Begin_Time>",
        "    <End_Time>2012-10-22 10:00:00</End_Time>",
        "  </header>",
        "  <data>",
        '    <hour time="2012-10-22 08:00:00">',
        "      <Space>18446744073709551616</Space>",
        "      <Container>1</Container>",
        "      <Object>2</Object>",
        "    </hour>",
        "  </data>",
        "</space_detail>",
        "",
      ].join("\n"),
    );
  });

  it("replaces lone surrogates, which XML cannot carry", () => {
    expect(xmlEscape("x\ud800y\udc00z😀")).toBe("x\ufffdy\ufffdz😀");
  });
});
