import { describe, expect, it } from "vitest";
import { assertLocalReadsAllowed, isLoopbackHost } from "./loopback.js";

describe("isLoopbackHost", () => {
  it.each([
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "[::1]",
    "localhost",
    "LOCALHOST",
    "app.localhost",
    "::ffff:127.0.0.1",
    "0:0:0:0:0:0:0:1",
  ])("%s is loopback", (host) => expect(isLoopbackHost(host)).toBe(true));
  it.each([
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "192.168.1.1",
    "128.0.0.1",
    "example.com",
    "localhost.example.com",
    "::ffff:10.0.0.1",
    "",
  ])("%s is not", (host) => expect(isLoopbackHost(host)).toBe(false));
});

describe("assertLocalReadsAllowed", () => {
  it("refuses local reads on a non-loopback address, and says how to start anyway", () => {
    expect(() => assertLocalReadsAllowed({ listen: "0.0.0.0:8124", host: "0.0.0.0", localReads: true })).toThrow(
      /--no-local-reads/,
    );
    expect(() => assertLocalReadsAllowed({ listen: "0.0.0.0:8124", host: "0.0.0.0", localReads: false })).not.toThrow();
    expect(() => assertLocalReadsAllowed({ listen: "[::1]:8124", host: "::1", localReads: true })).not.toThrow();
  });
});
