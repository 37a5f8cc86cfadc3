// Bad input against the real `tally serve`: every case gets an exact status and a reason that names the field,
// nothing from a rejected event is stored, and the server keeps answering /healthz after each one; on SQLite and on
// PostgreSQL.

import http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ErrorAnswer,
  freshStore,
  garbage,
  goodEvent,
  type IngestAnswer,
  killAll,
  ndjson,
  removeDir,
  STORES,
  TallyServer,
  type TestStore,
  tempDir,
} from "./helpers.js";

const MEDIA_TYPES = [
  "application/json",
  "application/x-ndjson",
  "application/cloudevents+json",
  "application/cloudevents-batch+json",
] as const;

let tally: TallyServer;
let dir: string;
let store: TestStore;

describe.each(STORES)("on %s", (kind) => {
  beforeAll(async () => {
    dir = tempDir("bad-input");
    store = await freshStore(kind);
    tally = await TallyServer.start({ dataDir: dir, args: store.args });
  });

  afterEach(async () => {
    const health = await tally.get("/healthz");
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "ok" });
  });

  afterAll(async () => {
    try {
      if (tally) expect(await tally.stop()).toEqual({ code: 0, signal: null });
    } finally {
      await store?.drop();
      removeDir(dir);
    }
  });

  /** Proof that an event was never stored: the same (server, id), now valid, is accepted as new. */
  async function expectNotStored(events: readonly Record<string, unknown>[]): Promise<void> {
    expect(await tally.postNdjson(events)).toEqual({ accepted: events.length, duplicates: 0, rejected: [] });
  }

  /** Proof that events were stored exactly once: sending them again gives only duplicates. */
  async function expectStored(events: readonly Record<string, unknown>[]): Promise<void> {
    expect(await tally.postNdjson(events)).toEqual({ accepted: 0, duplicates: events.length, rejected: [] });
  }

  interface BadEventCase {
    readonly name: string;
    /** Turns a good event into the bad one. */
    readonly spoil: (event: Record<string, unknown>) => Record<string, unknown>;
    /** The JSON text of the bad event, when JSON.stringify cannot write it (1e400). */
    readonly text?: (event: Record<string, unknown>) => string;
    readonly reason: RegExp;
    /** False when the bad event has no usable id, so it cannot be repaired into the same (server, id). */
    readonly repairable?: boolean;
  }

  const set = (field: string, value: unknown) => (e: Record<string, unknown>) => ({ ...e, [field]: value });
  const drop = (field: string) => (e: Record<string, unknown>) => {
    const copy = { ...e };
    delete copy[field];
    return copy;
  };
  const level = (value: unknown) => (e: Record<string, unknown>) => ({ ...e, metric: "storage.bytes", value });

  const BAD_EVENTS: readonly BadEventCase[] = [
    // Wrong types.
    { name: "server as a number", spoil: set("server", 42), reason: /^server must be a string, not a number$/ },
    {
      name: "value as an object",
      spoil: set("value", { bytes: 5 }),
      reason: /^value must be an integer \(a JSON number or a decimal string\), not an object$/,
    },
    { name: "value as a boolean", spoil: set("value", true), reason: /^value must be an integer .*not a boolean$/ },
    {
      name: "a dims value that is not a string",
      spoil: set("dims", { site: "ams", share: 7 }),
      reason: /^dims\.share must be a string, not a number$/,
    },
    {
      name: "dims as an array",
      spoil: set("dims", ["ams"]),
      reason: /^dims must be an object of strings, not an array$/,
    },
    {
      name: "id as a number",
      spoil: set("id", 12345),
      reason: /^id must be a string, not a number$/,
      repairable: false,
    },
    { name: "account as an array", spoil: set("account", ["a"]), reason: /^account must be a string, not an array$/ },
    { name: "metric as a boolean", spoil: set("metric", false), reason: /^metric must be a string, not a boolean$/ },
    { name: "instance as a number", spoil: set("instance", 3), reason: /^instance must be a string, not a number$/ },
    {
      name: "time as a boolean",
      spoil: set("time", true),
      reason: /^time must be an RFC 3339 string or epoch milliseconds$/,
    },
    {
      name: "kind that is not a kind",
      spoil: set("kind", "gauge"),
      reason: /^kind must be "level", "counter" or "state"$/,
    },
    {
      name: "kind contradicting a built-in metric",
      spoil: set("kind", "level"),
      reason: /^kind "level" contradicts requests\.get, a counter$/,
    },
    // Missing and empty fields.
    { name: "missing id", spoil: drop("id"), reason: /^id is missing$/, repairable: false },
    { name: "missing server", spoil: drop("server"), reason: /^server is missing$/ },
    { name: "missing time", spoil: drop("time"), reason: /^time is missing$/ },
    { name: "missing account", spoil: drop("account"), reason: /^account is missing$/ },
    { name: "missing metric", spoil: drop("metric"), reason: /^metric is missing$/ },
    { name: "missing value", spoil: drop("value"), reason: /^value is missing$/ },
    { name: "null value", spoil: set("value", null), reason: /^value is missing$/ },
    { name: "empty account", spoil: set("account", ""), reason: /^account is empty$/ },
    // Metrics.
    {
      name: "an unknown metric without a kind",
      spoil: set("metric", "disk.iops"),
      reason:
        /^metric "disk\.iops" is not built in and has no stored kind: give its kind \(in this event or another of the batch\)$/,
    },
    {
      name: "a metric name that is not lower-case words",
      spoil: set("metric", "Requests GET"),
      reason: /^metric "Requests GET" must be lower-case words separated by dots$/,
    },
    // NaN, Infinity, negative and non-integer values.
    { name: 'value "NaN" as a string', spoil: set("value", "NaN"), reason: /^value is "NaN", not a decimal integer$/ },
    {
      name: 'value "Infinity" as a string',
      spoil: set("value", "Infinity"),
      reason: /^value is "Infinity", not a decimal integer$/,
    },
    {
      name: "value 1e400 (parses to Infinity)",
      spoil: (e) => e,
      text: (e) => JSON.stringify({ ...e, value: 0 }).replace('"value":0', '"value":1e400'),
      reason: /^value is infinite, not an integer$/,
    },
    { name: "a negative level", spoil: level(-1), reason: /^value is negative; a level cannot be$/ },
    { name: "a negative counter", spoil: set("value", -5), reason: /^value is negative; a counter cannot be$/ },
    {
      name: "a negative counter as a string",
      spoil: set("value", "-5"),
      reason: /^value is negative; a counter cannot be$/,
    },
    {
      name: "a state other than 0 or 1",
      spoil: (e) => ({ ...e, metric: "vm.running", kind: "state", value: 2 }),
      reason: /^value must be 0 or 1 for a state$/,
    },
    { name: "value 1.5", spoil: set("value", 1.5), reason: /^value is 1\.5, not an integer$/ },
    { name: 'value "1.5"', spoil: set("value", "1.5"), reason: /^value is "1\.5", not a decimal integer$/ },
    { name: 'value "1e3"', spoil: set("value", "1e3"), reason: /^value is "1e3", not a decimal integer$/ },
    { name: 'value " 7" with a space', spoil: set("value", " 7"), reason: /^value is " 7", not a decimal integer$/ },
    {
      name: "a JSON number beyond 2^53",
      spoil: set("value", 2 ** 53 + 2),
      reason: /^value is beyond 2\^53 as a JSON number; send it as a decimal string to keep it exact$/,
    },
    { name: "a value of 39 digits", spoil: set("value", "9".repeat(39)), reason: /^value has more than 38 digits$/ },
    // Times that do not parse.
    {
      name: 'time "yesterday"',
      spoil: set("time", "yesterday"),
      reason: /^time "yesterday" is not an RFC 3339 time \(like 2026-11-23T12:00:00Z\)$/,
    },
    {
      name: "time in month 13",
      spoil: set("time", "2026-13-01T00:00:00Z"),
      reason: /^time "2026-13-01T00:00:00Z" is not a valid calendar time$/,
    },
    {
      name: "time on 30 February",
      spoil: set("time", "2026-02-30T00:00:00Z"),
      reason: /^time "2026-02-30T00:00:00Z" is not a valid calendar time$/,
    },
    {
      name: "time without an offset",
      spoil: set("time", "2026-11-23T12:00:00"),
      reason: /^time "2026-11-23T12:00:00" is not an RFC 3339 time/,
    },
    { name: "time 1.5", spoil: set("time", 1.5), reason: /^time is 1\.5: epoch milliseconds must be an integer$/ },
    {
      name: "time before 1970",
      spoil: set("time", -1),
      reason: /^time is -1: epoch milliseconds out of range \(1970 to 9999\)$/,
    },
    {
      name: "time as epoch milliseconds in a string",
      spoil: set("time", "1795435200000"),
      reason: /^time "1795435200000" is not an RFC 3339 time/,
    },
    // Over-long names.
    {
      name: "an id of 257 bytes",
      spoil: set("id", "i".repeat(257)),
      reason: /^id is longer than 256 bytes$/,
      repairable: false,
    },
    {
      name: "an id of 129 characters but 258 bytes",
      spoil: set("id", "é".repeat(129)),
      reason: /^id is longer than 256 bytes$/,
      repairable: false,
    },
    {
      name: "a server of 257 bytes",
      spoil: set("server", "s".repeat(257)),
      reason: /^server is longer than 256 bytes$/,
    },
    {
      name: "an account of 257 bytes",
      spoil: set("account", "a".repeat(257)),
      reason: /^account is longer than 256 bytes$/,
    },
  ];

  describe.each([
    ["NDJSON", "application/x-ndjson", ndjson],
    ["a JSON array", "application/json", (events: readonly object[]) => JSON.stringify(events)],
  ] as const)("one bad event between two good ones, as %s", (_label, contentType, encode) => {
    it.each(BAD_EVENTS)("$name: only the good ones are stored", async (c) => {
      const before = goodEvent();
      const after = goodEvent();
      const template = goodEvent();
      const bad = c.spoil(template);
      let body = encode([before, bad, after]);
      if (c.text) body = body.replace(JSON.stringify(bad), c.text(template));
      const res = await tally.post(body, contentType);
      expect(res.status).toBe(200);
      // Ids are echoed, cut at 256 characters.
      const idEcho =
        typeof bad.id === "string" ? { id: bad.id.length > 256 ? `${bad.id.slice(0, 256)}…` : bad.id } : {};
      expect(res.body).toEqual({
        accepted: 2,
        duplicates: 0,
        rejected: [{ index: 1, ...idEcho, reason: expect.stringMatching(c.reason) }],
      });
      await expectStored([before, after]);
      // Nothing of the bad event stayed behind: the same (server, id), made valid, is new.
      if (c.repairable !== false) await expectNotStored([template]);
    });
  });

  describe("values and ids at the edge of what is accepted", () => {
    it("an id of exactly 256 bytes, a decimal string beyond 2^64, and epoch milliseconds are accepted", async () => {
      const events = [
        goodEvent({ id: "é".repeat(128) }),
        goodEvent({ metric: "storage.bytes", value: "345876451382054092800" }),
        goodEvent({ time: 1_795_435_200_000 }),
        goodEvent({ value: 0 }),
      ];
      expect(await tally.postNdjson(events)).toEqual({ accepted: 4, duplicates: 0, rejected: [] });
      await expectStored(events);
    });

    it("an unknown metric with its kind is accepted", async () => {
      const event = goodEvent({ metric: "disk.iops", kind: "counter", value: 3 });
      expect(await tally.postNdjson([event])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    });

    it("the same event twice in one batch is stored once", async () => {
      const event = goodEvent();
      expect(await tally.postNdjson([event, event])).toEqual({ accepted: 1, duplicates: 1, rejected: [] });
      await expectStored([event]);
    });
  });

  describe("NDJSON lines that are not events", () => {
    it("NaN, a bare number and an array are rejected by line; the good lines are stored", async () => {
      const good = [goodEvent(), goodEvent(), goodEvent()];
      const nan = JSON.stringify(goodEvent({ value: 0 })).replace('"value":0', '"value":NaN');
      // The blank line counts: the NaN line is line 4 of the body, and item 2 of the batch.
      const body = `${JSON.stringify(good[0])}\n42\n\n${nan}\n[1,2]\n${JSON.stringify(good[1])}\n${JSON.stringify(good[2])}\n`;
      const res = await tally.post(body, "application/x-ndjson");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        accepted: 3,
        duplicates: 0,
        rejected: [
          { index: 1, reason: "an event must be a JSON object, not a number" },
          { index: 2, reason: "line 4 is not valid JSON" },
          { index: 3, reason: "an event must be a JSON object, not an array" },
        ],
      });
      await expectStored(good);
    });

    it("NaN in a JSON array makes the whole body invalid: 400 and nothing stored", async () => {
      const good = goodEvent();
      const body = `[${JSON.stringify(good)},${JSON.stringify(goodEvent({ value: 0 })).replace('"value":0', '"value":NaN')}]`;
      const res = await tally.post(body, "application/json");
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: { code: "VALIDATION", message: expect.stringMatching(/^the body is not valid JSON: /) },
      });
      await expectNotStored([good]);
    });
  });

  describe("a body cut short", () => {
    it("NDJSON cut mid-line: the complete lines are stored, the cut one is rejected", async () => {
      const events = [goodEvent(), goodEvent(), goodEvent()];
      const full = ndjson(events);
      const body = full.slice(0, full.length - 20);
      const res = await tally.post(body, "application/x-ndjson");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        accepted: 2,
        duplicates: 0,
        rejected: [{ index: 2, reason: "line 3 is not valid JSON (cut short?)" }],
      });
      await expectStored(events.slice(0, 2));
      await expectNotStored(events.slice(2));
    });

    it.each([
      ["application/json", (events: object[]) => JSON.stringify(events)],
      [
        "application/cloudevents-batch+json",
        (events: object[]) => JSON.stringify(events.map((e) => toCloudEvent(e as Record<string, unknown>))),
      ],
      [
        "application/cloudevents+json",
        (events: object[]) => JSON.stringify(toCloudEvent(events[0] as Record<string, unknown>)),
      ],
    ] as const)("%s cut mid-element: 400 and nothing stored", async (contentType, encode) => {
      const events = [goodEvent(), goodEvent()];
      const full = encode(events);
      const res = await tally.post(full.slice(0, full.length - 15), contentType);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: { code: "VALIDATION", message: expect.stringMatching(/^the body is not valid JSON: /) },
      });
      await expectNotStored(events);
    });
  });

  describe("empty bodies and content types", () => {
    it.each(MEDIA_TYPES.flatMap((type) => [[type, ""] as const, [type, " \n\t\n"] as const]))(
      "%s with body %j: 400 naming the empty body",
      async (contentType, body) => {
        const res = await tally.post(body, contentType);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({
          error: { code: "VALIDATION", message: "the body is empty: send at least one event" },
        });
      },
    );

    it("an empty JSON array is a 200 with nothing in it", async () => {
      const res = await tally.post("[]", "application/json");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ accepted: 0, duplicates: 0, rejected: [] });
    });

    it("text/plain: 415 naming the type and the accepted ones; nothing stored", async () => {
      const event = goodEvent();
      const res = await tally.post(ndjson([event]), "text/plain");
      expect(res.status).toBe(415);
      const { error } = res.body as ErrorAnswer;
      expect(error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      expect(error.message).toMatch(/^content type "text\/plain" is not accepted; send one of application\/json, /);
      for (const type of MEDIA_TYPES) expect(error.message).toContain(type);
      await expectNotStored([event]);
    });

    it("no content type at all: 415", async () => {
      const res = await tally.post(new TextEncoder().encode(ndjson([goodEvent()])));
      expect(res.status).toBe(415);
      expect((res.body as ErrorAnswer).error.message).toMatch(/^content type "\(none\)" is not accepted/);
    });

    it("parameters on the content type are allowed", async () => {
      const event = goodEvent();
      const res = await tally.post(JSON.stringify(event), "Application/JSON; charset=utf-8");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    });

    it("a CloudEvents batch that is not an array: 400", async () => {
      const res = await tally.post(JSON.stringify(toCloudEvent(goodEvent())), "application/cloudevents-batch+json");
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: { code: "VALIDATION", message: "a CloudEvents batch must be a JSON array" } });
    });
  });

  describe("10 MB of random garbage", () => {
    const TEN_MB = 10 * 1000 * 1000;

    it("as JSON: 400 with a short, clear message", async () => {
      const res = await tally.post(garbage(TEN_MB, 1), "application/json");
      expect(res.status).toBe(400);
      const { error } = res.body as ErrorAnswer;
      expect(error.code).toBe("VALIDATION");
      expect(error.message).toMatch(/^the body is not valid JSON: /);
      expect(error.message.length).toBeLessThan(500);
    });

    it("as a CloudEvents batch: 400", async () => {
      const res = await tally.post(garbage(TEN_MB, 2), "application/cloudevents-batch+json");
      expect(res.status).toBe(400);
      expect((res.body as ErrorAnswer).error.message).toMatch(/^the body is not valid JSON: /);
    });

    it("as NDJSON: every line is rejected, nothing is accepted", async () => {
      const res = await tally.post(garbage(TEN_MB, 3), "application/x-ndjson");
      expect(res.status).toBe(200);
      const body = res.body as IngestAnswer;
      expect(body.accepted).toBe(0);
      expect(body.duplicates).toBe(0);
      // The first thousand are listed, the rest counted.
      expect(body.rejected.length).toBe(1000);
      expect(body.rejected_omitted).toBeGreaterThan(1000);
      for (const r of body.rejected) expect(r.reason).toMatch(/^(line \d+ is not valid JSON|an event must be)/);
    });
  });

  describe("a body over TALLY_MAX_BODY_BYTES", () => {
    const LIMIT = 1024 * 1024;
    let small: TallyServer;
    let smallDir: string;
    let smallStore: TestStore;

    beforeAll(async () => {
      smallDir = tempDir("bad-input-limit");
      smallStore = await freshStore(kind);
      small = await TallyServer.start({
        dataDir: smallDir,
        args: smallStore.args,
        env: { TALLY_MAX_BODY_BYTES: String(LIMIT) },
      });
    });

    afterAll(async () => {
      if (small) await small.kill();
      await smallStore?.drop();
      removeDir(smallDir);
    });

    const tooLarge = { error: { code: "TOO_LARGE", message: `the body is larger than the limit of ${LIMIT} bytes` } };
    const inChunks = (data: Uint8Array, size = 250_000) =>
      Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));

    it("10 MB of garbage with a Content-Length: 413, and the server still serves", async () => {
      const res = await small.postRaw(inChunks(garbage(10 * 1000 * 1000, 4)), "application/json");
      expect(res.status).toBe(413);
      expect(res.body).toEqual(tooLarge);
      expect((await small.get("/healthz")).status).toBe(200);
    });

    it("10 MB of garbage in chunks, without a Content-Length: 413", async () => {
      const res = await small.postRaw(inChunks(garbage(10 * 1000 * 1000, 5)), "application/x-ndjson", {
        chunked: true,
      });
      expect(res.status).toBe(413);
      expect(res.body).toEqual(tooLarge);
      expect((await small.get("/healthz")).status).toBe(200);
    });

    it.each([
      ["with a Content-Length", false],
      ["chunked", true],
    ])("valid events just over the limit, %s: 413 and none stored; just under: all stored", async (_label, chunked) => {
      const events: Record<string, unknown>[] = [];
      let size = 0;
      while (size <= LIMIT) {
        const e = goodEvent({ server: "srv-limit" });
        events.push(e);
        size += JSON.stringify(e).length + 1;
      }
      const body = new TextEncoder().encode(ndjson(events));
      const res = await small.postRaw(inChunks(body, 64 * 1024), "application/x-ndjson", { chunked });
      expect(res.status).toBe(413);
      expect(res.body).toEqual(tooLarge);
      const under = events.slice(0, -20);
      expect(Buffer.byteLength(ndjson(under))).toBeLessThanOrEqual(LIMIT);
      expect(await small.postNdjson(under)).toEqual({ accepted: under.length, duplicates: 0, rejected: [] });
      expect(await small.postNdjson(events.slice(-20))).toEqual({ accepted: 20, duplicates: 0, rejected: [] });
    });

    it("SIGTERM straight after a 413, its connection still open: the server stops cleanly with exit code 0", async () => {
      const agent = new http.Agent({ keepAlive: true });
      try {
        const res = await small.postRaw(inChunks(garbage(4 * LIMIT, 6)), "application/json", { agent });
        expect(res.status).toBe(413);
        expect(await small.stop()).toEqual({ code: 0, signal: null });
      } finally {
        agent.destroy();
      }
      expect(small.output).toContain('"msg":"stopped"');
    });
  });

  /** The CloudEvents form of a plain event. */
  function toCloudEvent(e: Record<string, unknown>): Record<string, unknown> {
    const data: Record<string, unknown> = { value: e.value };
    if (e.kind !== undefined) data.kind = e.kind;
    if (e.instance !== undefined) data.instance = e.instance;
    if (e.dims !== undefined) data.dims = e.dims;
    return { specversion: "1.0", id: e.id, source: e.server, time: e.time, subject: e.account, type: e.metric, data };
  }

  interface CloudEventCase {
    readonly name: string;
    readonly spoil: (ce: Record<string, unknown>) => Record<string, unknown>;
    readonly reason: RegExp;
  }

  const withData = (field: string, value: unknown) => (ce: Record<string, unknown>) => ({
    ...ce,
    data: { ...(ce.data as Record<string, unknown>), [field]: value },
  });

  const BAD_CLOUDEVENTS: readonly CloudEventCase[] = [
    { name: "no specversion", spoil: drop("specversion"), reason: /^specversion must be "1\.0"$/ },
    { name: "specversion 0.3", spoil: set("specversion", "0.3"), reason: /^specversion must be "1\.0"$/ },
    { name: "no data", spoil: drop("data"), reason: /^data is missing: it must be an object with a value$/ },
    {
      name: "data as a string",
      spoil: set("data", "5"),
      reason: /^data must be an object with a value, not a string$/,
    },
    { name: "data without a value", spoil: set("data", { instance: "b" }), reason: /^data\.value is missing$/ },
    { name: "no source", spoil: drop("source"), reason: /^source is missing$/ },
    { name: "subject as a number", spoil: set("subject", 7), reason: /^subject must be a string, not a number$/ },
    {
      name: "an unknown type",
      spoil: set("type", "com.example.usage"),
      reason: /^type "com\.example\.usage" is not built in and has no stored kind: give its data\.kind \(in this/,
    },
    { name: "no time", spoil: drop("time"), reason: /^time is missing$/ },
    {
      name: "a negative data.value",
      spoil: withData("value", -3),
      reason: /^data\.value is negative; a counter cannot be$/,
    },
    {
      name: 'data.value "1.5"',
      spoil: withData("value", "1.5"),
      reason: /^data\.value is "1\.5", not a decimal integer$/,
    },
    {
      name: "a data.dims value that is not a string",
      spoil: withData("dims", { site: 1 }),
      reason: /^data\.dims\.site must be a string, not a number$/,
    },
    {
      name: "a wrong data.kind",
      spoil: withData("kind", "gauge"),
      reason: /^data\.kind must be "level", "counter" or "state"$/,
    },
  ];

  describe("CloudEvents", () => {
    it.each(BAD_CLOUDEVENTS)("$name, in a batch: rejected naming the CloudEvents field", async (c) => {
      const [before, template, after] = [goodEvent(), goodEvent(), goodEvent()];
      const bad = c.spoil(toCloudEvent(template));
      const body = JSON.stringify([toCloudEvent(before), bad, toCloudEvent(after)]);
      const res = await tally.post(body, "application/cloudevents-batch+json");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        accepted: 2,
        duplicates: 0,
        rejected: [{ index: 1, id: template.id, reason: expect.stringMatching(c.reason) }],
      });
      await expectStored([before, after]);
      await expectNotStored([template]);
    });

    it.each(BAD_CLOUDEVENTS)("$name, alone: rejected the same way", async (c) => {
      const template = goodEvent();
      const res = await tally.post(JSON.stringify(c.spoil(toCloudEvent(template))), "application/cloudevents+json");
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        accepted: 0,
        duplicates: 0,
        rejected: [{ index: 0, id: template.id, reason: expect.stringMatching(c.reason) }],
      });
      await expectNotStored([template]);
    });

    it("a good CloudEvent is stored as the plain event with the same (server, id)", async () => {
      const event = goodEvent({ metric: "storage.bytes", value: "345876451382054092800", dims: { site: "ams" } });
      const res = await tally.post(JSON.stringify(toCloudEvent(event)), "application/cloudevents+json");
      expect(res.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
      await expectStored([event]);
    });

    it("an element that is not an object is rejected by index", async () => {
      const good = goodEvent();
      const res = await tally.post(JSON.stringify([7, toCloudEvent(good)]), "application/cloudevents-batch+json");
      expect(res.body).toEqual({
        accepted: 1,
        duplicates: 0,
        rejected: [{ index: 0, reason: "a CloudEvent must be a JSON object, not a number" }],
      });
    });
  });
});

afterAll(() => {
  killAll();
});
