import os from "node:os";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";

describe("server limits", () => {
  it("default to a two-minute request, ten-second headers, five-second keep-alive and 1024 connections", () => {
    const config = loadConfig({}, {});
    expect(config.requestTimeoutSeconds).toBe(120);
    expect(config.headersTimeoutSeconds).toBe(10);
    expect(config.keepAliveTimeoutSeconds).toBe(5);
    expect(config.maxConnections).toBe(1024);
  });

  it("are read from the environment", () => {
    const config = loadConfig(
      {},
      {
        TALLY_REQUEST_TIMEOUT_SECONDS: "30",
        TALLY_HEADERS_TIMEOUT_SECONDS: "3",
        TALLY_KEEP_ALIVE_TIMEOUT_SECONDS: "65",
        TALLY_MAX_CONNECTIONS: "20",
      },
    );
    expect(config).toMatchObject({
      requestTimeoutSeconds: 30,
      headersTimeoutSeconds: 3,
      keepAliveTimeoutSeconds: 65,
      maxConnections: 20,
    });
  });

  it("refuse a headers timeout that is not less than the request timeout", () => {
    expect(() => loadConfig({}, { TALLY_REQUEST_TIMEOUT_SECONDS: "5" })).toThrow(
      /TALLY_HEADERS_TIMEOUT_SECONDS\) must be less than the request timeout/,
    );
    expect(() => loadConfig({}, { TALLY_REQUEST_TIMEOUT_SECONDS: "5", TALLY_HEADERS_TIMEOUT_SECONDS: "5" })).toThrow(
      /must be less than the request timeout/,
    );
  });

  it("refuse nonsense", () => {
    expect(() => loadConfig({}, { TALLY_MAX_CONNECTIONS: "0" })).toThrow(/TALLY_MAX_CONNECTIONS\) must be at least 1/);
    expect(() => loadConfig({}, { TALLY_REQUEST_TIMEOUT_SECONDS: "soon" })).toThrow(/TALLY_REQUEST_TIMEOUT_SECONDS/);
    expect(() => loadConfig({}, { TALLY_KEEP_ALIVE_TIMEOUT_SECONDS: "9999999" })).toThrow(/at most 86400/);
  });
});

describe("the Swift reseller prefix", () => {
  it("is AUTH_ unless set, and empty when set empty", () => {
    expect(loadConfig({}, {}).swiftResellerPrefix).toBe("AUTH_");
    expect(loadConfig({}, { TALLY_SWIFT_RESELLER_PREFIX: "KEY_" }).swiftResellerPrefix).toBe("KEY_");
    expect(loadConfig({}, { TALLY_SWIFT_RESELLER_PREFIX: "" }).swiftResellerPrefix).toBe("");
  });

  it("refuses spaces, control characters and a long prefix", () => {
    expect(() => loadConfig({}, { TALLY_SWIFT_RESELLER_PREFIX: "AUTH _" })).toThrow(
      /TALLY_SWIFT_RESELLER_PREFIX\) must not contain spaces or control characters/,
    );
    expect(() => loadConfig({}, { TALLY_SWIFT_RESELLER_PREFIX: "A\u0001" })).toThrow(/control characters/);
    expect(() => loadConfig({}, { TALLY_SWIFT_RESELLER_PREFIX: "A".repeat(65) })).toThrow(/at most 64/);
  });
});

describe("the memory budget", () => {
  it("is 512 MiB unless --memory or TALLY_MEMORY_MB says otherwise; the flag wins", () => {
    expect(loadConfig({}, {}).memoryMb).toBe(512);
    expect(loadConfig({}, { TALLY_MEMORY_MB: "400" }).memoryMb).toBe(400);
    expect(loadConfig({ memory: "1024" }, { TALLY_MEMORY_MB: "400" }).memoryMb).toBe(1024);
    expect(loadConfig({}, { TALLY_MEMORY_MB: "" }).memoryMb).toBe(512);
  });

  it("refuses a budget too small, too large or not a whole number of MiB, naming the flag", () => {
    expect(() => loadConfig({ memory: "100" }, {})).toThrow(/--memory \(or TALLY_MEMORY_MB\) must be at least 320/);
    expect(() => loadConfig({}, { TALLY_MEMORY_MB: "1e9" })).toThrow(/at most 65536/);
    expect(() => loadConfig({}, { TALLY_MEMORY_MB: "300.5" })).toThrow(/whole number of MiB/);
    expect(() => loadConfig({}, { TALLY_MEMORY_MB: "lots" })).toThrow(/TALLY_MEMORY_MB/);
  });
});

describe("the export's threads", () => {
  it("are one per core, up to four, unless TALLY_EXPORT_THREADS says otherwise, which must be 1 to 64", () => {
    expect(loadConfig({}, {}).exportThreads).toBe(Math.min(4, os.availableParallelism()));
    expect(loadConfig({}, { TALLY_EXPORT_THREADS: "1" }).exportThreads).toBe(1);
    expect(() => loadConfig({}, { TALLY_EXPORT_THREADS: "0" })).toThrow(/TALLY_EXPORT_THREADS\) must be at least 1/);
    expect(() => loadConfig({}, { TALLY_EXPORT_THREADS: "2.5" })).toThrow(/whole number/);
  });
});
