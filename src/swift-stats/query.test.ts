import { describe, expect, it } from "vitest";
import { zeroCounters } from "./fields.js";
import { parseSwiftStatsQuery, type QueryMethod } from "./query.js";
import { render } from "./render.js";

const parse = (
  url: string,
  headers: Record<string, string> = {},
  method: QueryMethod | null = "io_sum",
  maxDays = 366,
) =>
  parseSwiftStatsQuery(
    method,
    {
      url: `http://localhost${url}`,
      header: (name) => Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1],
    },
    maxDays,
  );

const H8 = Date.UTC(2012, 9, 22, 8);
const H10 = Date.UTC(2012, 9, 22, 10);

describe("parseSwiftStatsQuery", () => {
  it("reads the seed's query string, separated by ;", () => {
    expect(
      parse("/io_sum?account_id=7f6a;begin_time=2012-10-22%2008:00:00;end_time=2012-10-22+10:00:00;format=xml"),
    ).toEqual({
      method: "io_sum",
      account: "7f6a",
      fromHour: H8,
      toHour: H10,
      format: "xml",
      fill: "none",
    });
  });

  it("reads & separated pairs and the seed's headers alike", () => {
    const q = "/io_sum?account_id=a&begin_time=2012-10-22T08:00:00Z&end_time=2012-10-22T12:00:00%2B02:00";
    const h = { "X-Account-Id": "a", "X-Begin-Time": "2012-10-22 08:00:00", "X-End-Time": "2012-10-22 10:00:00" };
    expect(parse(q)).toEqual(parse("/io_sum", h));
    expect(parse("/io_sum", h).format).toBe("json");
  });

  it("takes the method from X-Query-Method for GET /", () => {
    const h = { "X-Account-Id": "a", "X-Begin-Time": "2012-10-22 08:00:00", "X-End-Time": "2012-10-22 10:00:00" };
    expect(parse("/", { ...h, "X-Query-Method": "space_detail" }, null).method).toBe("space_detail");
    expect(() => parse("/", h, null)).toThrow(/X-Query-Method is missing/);
    expect(() => parse("/", { ...h, "X-Query-Method": "io_everything" }, null)).toThrow(/X-Query-Method must be/);
  });

  it("refuses an X-Query-Method that disagrees with the path, and accepts one that agrees", () => {
    const h = { "X-Account-Id": "a", "X-Begin-Time": "2012-10-22 08:00:00", "X-End-Time": "2012-10-22 10:00:00" };
    expect(() => parse("/io_sum", { ...h, "X-Query-Method": "space_detail" }, "io_sum")).toThrow(
      /^X-Query-Method says "space_detail" but the path is \/io_sum/,
    );
    expect(() => parse("/io_sum", { ...h, "X-Query-Method": "" }, "io_sum")).toThrow(/X-Query-Method/);
    expect(parse("/io_detail", { ...h, "X-Query-Method": " io_detail " }, "io_detail").method).toBe("io_detail");
  });

  it("covers every hour that overlaps [begin, end)", () => {
    const q = (b: string, e: string) => {
      const r = parse(`/io_sum?account_id=a;begin_time=${b};end_time=${e}`);
      return [(r.fromHour - H8) / 3_600_000, (r.toHour - H8) / 3_600_000];
    };
    expect(q("2012-10-22T08:00:00Z", "2012-10-22T10:00:00Z")).toEqual([0, 2]);
    expect(q("2012-10-22T08:30:00Z", "2012-10-22T10:00:01Z")).toEqual([0, 3]);
    expect(q("2012-10-22T08:30:00Z", "2012-10-22T08:30:00Z")).toEqual([0, 0]);
  });

  it("takes fill=zero for io_detail and fill=previous for space_detail, in the query string or X-Fill", () => {
    const r = "account_id=a;begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T10:00:00Z";
    expect(parse(`/io_detail?${r};fill=zero`, {}, "io_detail").fill).toBe("zero");
    expect(parse(`/space_detail?${r}`, { "X-Fill": "Previous" }, "space_detail").fill).toBe("previous");
    expect(parse(`/io_sum?${r};fill=none`).fill).toBe("none");
    expect(parse(`/io_detail?${r}`, {}, "io_detail").fill).toBe("none");
    expect(() => parse(`/io_sum?${r};fill=zero`)).toThrow(/^fill \(or X-Fill\) applies to io_detail and space_detail/);
    expect(() => parse(`/space_detail?${r};fill=zero`, {}, "space_detail")).toThrow(
      /^fill \(or X-Fill\) must be none or previous for space_detail, not "zero"/,
    );
    expect(() => parse(`/io_detail?${r};fill=yes`, {}, "io_detail")).toThrow(/must be none or zero for io_detail/);
    expect(() => parse(`/io_detail?${r};fill=zero`, { "X-Fill": "none" }, "io_detail")).toThrow(/more than once/);
  });

  it("says in the answer's header the whole hours it widened a range to, not the range asked", () => {
    const query = parse("/io_sum?account_id=a;begin_time=2012-10-22 08:30:00;end_time=2012-10-22 09:15:00");
    const { body } = render(query, { method: "io_sum", data: zeroCounters() });
    expect(JSON.parse(body)[0]).toEqual({
      Account_ID: "a",
      "Begin Time": "2012-10-22 08:00:00",
      "End Time": "2012-10-22 10:00:00",
    });
    const xml = render({ ...query, format: "xml" }, { method: "io_sum", data: zeroCounters() }).body;
    expect(xml).toContain("<Begin_Time>2012-10-22 08:00:00</Begin_Time>");
    expect(xml).toContain("<End_Time>2012-10-22 10:00:00</End_Time>");
  });

  it.each([
    [
      "/io_sum?begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z",
      /^account_id \(or X-Account-Id\) is missing/,
    ],
    ["/io_sum?account_id=a;end_time=2012-10-22T09:00:00Z", /^begin_time \(or X-Begin-Time\) is missing/],
    ["/io_sum?account_id=a;begin_time=2012-10-22T09:00:00Z", /^end_time \(or X-End-Time\) is missing/],
    ["/io_sum?account_id=a;begin_time=yesterday;end_time=2012-10-22T09:00:00Z", /^begin_time .*not a time/],
    ["/io_sum?account_id=a;begin_time=2012-02-30 08:00:00;end_time=2012-10-22T09:00:00Z", /^begin_time .*not a time/],
    [
      "/io_sum?account_id=a;begin_time=2012-10-22T09:00:00Z;end_time=2012-10-22T08:00:00Z",
      /^begin_time .* is after end_time/,
    ],
    [
      "/io_sum?account_id=a;begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z;format=csv",
      /^format .*json or xml/,
    ],
    [
      "/io_sum?account_id=a;begin_time=2010-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z",
      /^end_time .*more than 366 days/,
    ],
    [
      "/io_sum?account_id=a;account_id=b;begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z",
      /^account_id .*more than once/,
    ],
    ["/io_sum?account_id=%E0%A4%A;begin_time=2012-10-22T08:00:00Z", /percent-encoded/],
    ["/io_sum?account_id=a%0Ab;begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z", /control characters/],
  ])("refuses %s with a 400 naming the parameter", (url, message) => {
    expect(() => parse(url)).toThrow(message);
    try {
      parse(url);
    } catch (error) {
      expect((error as { code: string }).code).toBe("VALIDATION");
    }
  });

  it("refuses a header that contradicts the query string", () => {
    expect(() => parse("/io_sum?account_id=a", { "X-Account-Id": "b" })).toThrow(/account_id .*more than once/);
  });

  it("allows exactly the configured maximum range", () => {
    expect(() =>
      parse("/io_sum?account_id=a;begin_time=2012-10-01T00:00:00Z;end_time=2012-10-03T00:00:00Z", {}, "io_sum", 2),
    ).not.toThrow();
    expect(() =>
      parse("/io_sum?account_id=a;begin_time=2012-10-01T00:00:00Z;end_time=2012-10-03T00:00:01Z", {}, "io_sum", 2),
    ).toThrow(/more than 2 days/);
  });

  it("reads a UTF-8 account id sent in a header", () => {
    const latin1 = Buffer.from("compte-é", "utf8").toString("latin1");
    const q = parse("/io_sum?begin_time=2012-10-22T08:00:00Z;end_time=2012-10-22T09:00:00Z", {
      "X-Account-Id": latin1,
    });
    expect(q.account).toBe("compte-é");
  });
});
