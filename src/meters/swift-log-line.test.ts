import { describe, expect, it } from "vitest";
import { swiftAccessLine } from "../../bench/swift-log-workload.js";
import { SwiftLogLineParser } from "./swift-log-line.js";

const T = Date.UTC(2026, 10, 23, 9, 43, 2);
const HOUR = Date.UTC(2026, 10, 23, 9);

describe("a Swift proxy access line", () => {
  const parser = new SwiftLogLineParser();

  it("reads a real line of Swift 2.30: hour, account, method, bytes", () => {
    const line =
      "<134>proxy-server: 127.0.0.1 127.0.0.1 23/Nov/2026/09/43/02 PUT /v1/AUTH_test/bills/a HTTP/1.0 201 - " +
      "curl/7.88.1 AUTH_tkc1c050b92... 10000 - - txeb8da2c0187e492895f52-006b040aa6 - 0.1336 - - " +
      "1795426982.154896021 1795426982.288459539 0";
    expect(parser.parse(line)).toEqual({
      kind: "request",
      hour: HOUR,
      account: "AUTH_test",
      slot: 1,
      bytesIn: 10000,
      bytesOut: 0,
    });
  });

  it("skips a subrequest (source set) and counts lines of other programs apart", () => {
    expect(parser.parse(swiftAccessLine({ time: T, method: "HEAD", path: "/v1/AUTH_t/c", source: "VW" }))).toEqual({
      kind: "subrequest",
    });
    expect(
      parser.parse('<134>account-server: 127.0.0.1 - - [23/Nov/2026:09:43:02 +0000] "HEAD /d1/200/AUTH_test" 404'),
    ).toEqual({
      kind: "other",
      program: "account-server",
    });
    expect(parser.parse("<134>proxy-server: autocreate account '/AUTH_u1' (txn: tx4b8)")).toEqual({
      kind: "other",
      program: "proxy-server messages",
    });
  });

  it("takes the query string off the account, decodes it, and counts paths without one as unattributed", () => {
    const head = parser.parse(swiftAccessLine({ time: T, method: "HEAD", path: "/v1/AUTH_test?format=json" }));
    expect(head).toMatchObject({ account: "AUTH_test", slot: 2 });
    const utf8 = parser.parse(swiftAccessLine({ time: T, method: "GET", path: "/v1/AUTH_caf\u00e9 x/c" }));
    expect(utf8).toMatchObject({ account: "AUTH_caf\u00e9 x" });
    expect(parser.parse(swiftAccessLine({ time: T, method: "GET", path: "/auth/v1.0" }))).toMatchObject({
      account: null,
      slot: 0,
    });
    expect(parser.parse(swiftAccessLine({ time: T, method: "COPY", path: "/v1.0/AUTH_a/c/o" }))).toMatchObject({
      account: "AUTH_a",
      slot: 5,
    });
  });

  it("accepts lines with no prefix, an RFC 3164 or RFC 3339 syslog prefix, a pid in the tag, and more fields", () => {
    const bare = swiftAccessLine({ time: T, method: "GET", path: "/v1/AUTH_a", bytesOut: 5, prefix: "" });
    for (const prefix of [
      "",
      "Nov 23 09:43:02 swift-1 proxy-server: ",
      "<134>Nov  3 09:43:02 swift-1 proxy-server[1234]: ",
      "2026-11-23T09:43:02.123456+00:00 swift-1 proxy-server: ",
    ]) {
      expect(parser.parse(prefix + bare), prefix).toMatchObject({ kind: "request", account: "AUTH_a", bytesOut: 5 });
    }
    expect(parser.parse(`${bare} 1 extra`)).toMatchObject({ kind: "request" });
  });

  it("says what is wrong with a line that should be an access line", () => {
    const good = swiftAccessLine({ time: T, method: "GET", path: "/v1/AUTH_a", prefix: "" }).split(" ");
    const bad = (i: number, value: string) => parser.parse(good.map((f, j) => (j === i ? value : f)).join(" "));
    expect(bad(2, "31/Feb/2026/09/43/02")).toEqual({ kind: "bad", reason: expect.stringContaining("time") });
    expect(bad(3, "get")).toEqual({ kind: "bad", reason: expect.stringContaining("method") });
    expect(bad(6, "2x0")).toEqual({ kind: "bad", reason: expect.stringContaining("status") });
    expect(bad(10, "12a")).toEqual({ kind: "bad", reason: expect.stringContaining("bytes_recvd") });
    expect(bad(11, "-5")).toEqual({ kind: "bad", reason: expect.stringContaining("bytes_sent") });
    expect(bad(4, "/v1/AUTH_%FF")).toEqual({ kind: "bad", reason: expect.stringContaining("UTF-8") });
    expect(bad(4, "/v1/AUTH_%E2%80%AE")).toEqual({ kind: "bad", reason: expect.stringContaining("U+202E") });
    expect(parser.parse(good.slice(0, 12).join(" "))).toEqual({
      kind: "bad",
      reason: "has 12 fields; a Swift proxy access line has at least 17",
    });
    expect(parser.parse("hello world")).toEqual({ kind: "bad", reason: "is not a Swift proxy access line" });
  });

  it("reads another tag's lines when told its name", () => {
    const line = swiftAccessLine({ time: T, method: "GET", path: "/v1/AUTH_a", prefix: "<134>proxy-a: " });
    expect(parser.parse(line)).toEqual({ kind: "other", program: "proxy-a" });
    expect(new SwiftLogLineParser({ logNames: ["proxy-a"] }).parse(line)).toMatchObject({ kind: "request" });
  });
});
