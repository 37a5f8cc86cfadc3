// The terminal form of a log line: time, level and message first, then every other field.

import { describe, expect, it } from "vitest";
import { readableLine } from "./readable-lines.js";

describe("readable log lines", () => {
  it("writes time, level, message, then the other fields, strings with spaces quoted", () => {
    const json = JSON.stringify({
      level: 40,
      time: "2026-12-06T04:40:01.123Z",
      service: "tally",
      reqId: "r-1",
      broker: "nats://h:4222",
      err: "connection refused",
      msg: "not pulling",
    });
    expect(readableLine(json)).toBe(
      '04:40:01 WARN  not pulling reqId=r-1 broker=nats://h:4222 err="connection refused"\n',
    );
  });

  it("passes a line that is not JSON through as it is", () => {
    expect(readableLine("plain\n")).toBe("plain\n");
  });
});
