import { describe, expect, it } from "vitest";
import { consumerSettings, streamSettings } from "./consume-flags.js";

describe("consumer settings from flags and TALLY_ variables", () => {
  it("takes every consumer setting from the environment when no flag gives it", () => {
    const env = {
      TALLY_CONSUME: "nats://a:4222,nats://b:4222  nats://c:4222",
      TALLY_STREAM: "EVENTS_2",
      TALLY_SUBJECT_PREFIX: "usage.in",
      TALLY_DURABLE: "nodes",
      TALLY_BATCH: "250",
    };
    expect(consumerSettings({}, env)).toEqual([
      {
        url: "nats://a:4222,nats://b:4222",
        stream: "EVENTS_2",
        subjectPrefix: "usage.in",
        durable: "nodes",
        batch: 250,
      },
      { url: "nats://c:4222", stream: "EVENTS_2", subjectPrefix: "usage.in", durable: "nodes", batch: 250 },
    ]);
  });

  it("lets flags win over the environment, setting by setting", () => {
    const env = { TALLY_CONSUME: "nats://a:4222", TALLY_DURABLE: "nodes", TALLY_BATCH: "250" };
    expect(consumerSettings({ consume: ["nats://z:4222"], batch: "10" }, env)).toEqual([
      { url: "nats://z:4222", stream: "TALLY_EVENTS", subjectPrefix: "tally.events", durable: "nodes", batch: 10 },
    ]);
  });

  it("uses the defaults when neither says, and consumes nothing without a broker", () => {
    expect(consumerSettings({ consume: ["nats://a:4222"] }, {})).toEqual([
      { url: "nats://a:4222", stream: "TALLY_EVENTS", subjectPrefix: "tally.events", durable: "tally", batch: 5000 },
    ]);
    // Variables a publisher also reads do not make a node that does not consume fail.
    expect(consumerSettings({}, { TALLY_STREAM: "S", TALLY_DURABLE: "d", TALLY_CONSUME: "  " })).toEqual([]);
    expect(() => consumerSettings({ durable: "d" }, {})).toThrow(/--durable needs --consume .*TALLY_CONSUME/);
  });

  it("refuses a bad value from the environment, naming the variable", () => {
    const consume = { TALLY_CONSUME: "nats://a:4222" };
    expect(() => consumerSettings({}, { ...consume, TALLY_BATCH: "0" })).toThrow(/"0" \(or TALLY_BATCH\)/);
    expect(() => consumerSettings({}, { ...consume, TALLY_BATCH: "2.5" })).toThrow(/TALLY_BATCH/);
    expect(() => consumerSettings({}, { ...consume, TALLY_DURABLE: "a b" })).toThrow(/"a b" \(or TALLY_DURABLE\)/);
    expect(() => consumerSettings({}, { ...consume, TALLY_STREAM: "a.b" })).toThrow(/"a.b" \(or TALLY_STREAM\)/);
    expect(() => consumerSettings({}, { TALLY_CONSUME: "http://a:4222" })).toThrow(/nats:/);
  });

  it("gives a publisher the stream and subject prefix of the environment too", () => {
    expect(streamSettings({}, { TALLY_STREAM: "S2", TALLY_SUBJECT_PREFIX: "p.q" })).toEqual({
      stream: "S2",
      subjectPrefix: "p.q",
    });
    expect(streamSettings({ stream: "S3" }, { TALLY_STREAM: "S2", TALLY_SUBJECT_PREFIX: "" })).toEqual({
      stream: "S3",
      subjectPrefix: "tally.events",
    });
  });
});
