import { describe, expect, it } from "vitest";
import { groupDigits, humanBytes, humanCount } from "./format.js";
import { html, raw } from "./html.js";
import { niceMax } from "./svg-chart.js";
import { decodeCursor, encodeCursor, parseTime, parseUsageRequest } from "./usage-request.js";

describe("format", () => {
  it("writes sizes in binary units, counts with separators, exactly from bigints", () => {
    expect(humanBytes(0n)).toBe("0 bytes");
    expect(humanBytes(1n)).toBe("1 byte");
    expect(humanBytes(1023n)).toBe("1023 bytes");
    expect(humanBytes(1536n)).toBe("1.5 KiB");
    expect(humanBytes(100n * 1024n)).toBe("100 KiB");
    expect(humanBytes(5n * 2n ** 40n)).toBe("5 TiB");
    expect(humanBytes(2n ** 90n)).toBe("1024 YiB");
    expect(groupDigits(1234567n)).toBe("1,234,567");
    expect(groupDigits(2n ** 64n)).toBe("18,446,744,073,709,551,616");
    expect(humanCount(999n)).toBe("999");
    expect(humanCount(1500n)).toBe("1.5k");
    expect(humanCount(12_300_000n)).toBe("12.3M");
  });

  it("rounds chart axes to 1, 2 or 5 of a unit", () => {
    expect(niceMax(0n, 1000n)).toBe(1n);
    expect(niceMax(7n, 1000n)).toBe(10n);
    expect(niceMax(4321n, 1000n)).toBe(5000n);
    expect(niceMax(9n * 2n ** 40n, 1024n)).toBe(10n * 2n ** 40n);
    expect(niceMax(3n * 2n ** 30n, 1024n)).toBe(5n * 2n ** 30n);
  });
});

describe("html", () => {
  it("escapes every interpolated value, in text and attributes, unless it is already Html", () => {
    const evil = `<script>alert("1")</script>&'`;
    expect(html`<td title="${evil}">${evil}</td>`.value).toBe(
      '<td title="&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;</td>',
    );
    expect(html`<p>${[html`<b>${"<i>"}</b>`, raw("<br>")]}</p>`.value).toBe("<p><b>&lt;i&gt;</b><br></p>");
    expect(html`${null}${undefined}${false}${0}`.value).toBe("0");
  });
});

describe("usage requests", () => {
  it("round-trips cursors and refuses one from another sort or metric, or a forged one", () => {
    const sort = { by: "total" } as const;
    const cursor = encodeCursor({ value: 2n ** 70n, account: "a,b" }, sort, "storage.bytes");
    expect(decodeCursor(cursor, sort, "storage.bytes")).toEqual({ position: { value: 2n ** 70n, account: "a,b" } });
    const pinned = encodeCursor({ value: 1n, account: "a" }, sort, "storage.bytes", { token: "42", time: 7 });
    expect(decodeCursor(pinned, sort, "storage.bytes")).toEqual({
      position: { value: 1n, account: "a" },
      snapshot: { token: "42", time: 7 },
    });
    expect(() => decodeCursor(cursor, { by: "account" }, "storage.bytes")).toThrow(/sorted by total/);
    expect(() => decodeCursor(cursor, sort, "storage.files")).toThrow(/storage.bytes/);
    expect(() => decodeCursor("bm9wZQ", sort, "storage.bytes")).toThrow(/cursor/);
    const forged = Buffer.from(JSON.stringify({ s: "total", m: "storage.bytes", v: "1e9", a: "x" })).toString(
      "base64url",
    );
    expect(() => decodeCursor(forged, sort, "storage.bytes")).toThrow(/cursor/);
  });

  it("reads subsets, servers, sorts and limits from the query string", () => {
    const r = parseUsageRequest(
      new URLSearchParams("account=a&account=b&accounts=c,a&server=s1&servers=s2,s1&sort=s1&limit=5"),
    );
    expect(r.accounts).toEqual(["a", "b", "c"]);
    expect(r.servers).toEqual(["s1", "s2"]);
    expect(r.sort).toEqual({ by: "server", server: "s1" });
    expect(r.limit).toBe(5);
    expect(parseUsageRequest(new URLSearchParams("")).limit).toBe(100);
    expect(() => parseUsageRequest(new URLSearchParams("limit=10001"))).toThrow(/limit/);
    expect(() => parseUsageRequest(new URLSearchParams("after=x&before=y"))).toThrow(/not both/);
  });

  it("reads times as RFC 3339, epoch milliseconds, dates and datetime-local values", () => {
    const t = Date.UTC(2026, 10, 1, 12, 30);
    expect(parseTime("2026-11-01T12:30:00Z")).toBe(t);
    expect(parseTime(String(t))).toBe(t);
    expect(parseTime("2026-11-01T12:30")).toBe(t);
    expect(parseTime("2026-11-01")).toBe(Date.UTC(2026, 10, 1));
    expect(() => parseTime("yesterday")).toThrow(/at/);
  });
});
