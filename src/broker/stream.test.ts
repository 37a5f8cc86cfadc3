// Subjects and message ids: every server name makes one valid subject token, and distinct names or (server, id)
// pairs never meet.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { brokerLabel, checkStreamSettings, messageId, subjectFor, subjectToken } from "./stream.js";

describe("subjects and message ids", () => {
  it("writes a server name as one token without dots, wildcards or white space", () => {
    expect(subjectFor("tally.events", "swift.node-1")).toBe("tally.events.swift%2Enode-1");
    expect(subjectToken("rack 7 *>")).toBe("rack%207%20%2A%3E");
    expect(subjectToken("50%")).toBe("50%25");
    expect(subjectToken("nœud")).toBe("n%C5%93ud");
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        const ta = subjectToken(a);
        expect(ta).toMatch(/^[A-Za-z0-9_%-]+$/);
        if (a !== b) expect(ta).not.toBe(subjectToken(b));
      }),
    );
  });

  it("keeps (server, id) pairs apart in the message id", () => {
    expect(messageId("a/b", "c")).not.toBe(messageId("a", "b/c"));
    expect(messageId("s 1", "e\n1")).toBe("s%201/e%0A1");
  });

  it("refuses a stream name or prefix NATS would not take, and logs a broker without its credentials", () => {
    expect(() => checkStreamSettings({ stream: "a.b", subjectPrefix: "x" })).toThrow(/--stream "a.b"/);
    expect(() => checkStreamSettings({ stream: "S", subjectPrefix: "x.*" })).toThrow(/--subject-prefix "x.\*"/);
    expect(() => checkStreamSettings({ stream: "S", subjectPrefix: "x..y" })).toThrow(/--subject-prefix/);
    expect(brokerLabel("nats://user:secret@h:4222,nats://h2:4222")).toBe("nats://h:4222,nats://h2:4222");
  });
});
