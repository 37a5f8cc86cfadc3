import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { eventToJson, LIMITS, type RawEvent, type UsageEvent, validateEvent } from "./event.js";

const T = Date.UTC(2026, 10, 23, 12);

const raw = (overrides: Partial<Record<keyof RawEvent, unknown>> = {}): RawEvent => {
  const event: Record<string, unknown> = {
    id: "e-1",
    server: "srv-1",
    time: "2026-11-23T12:00:00Z",
    account: "AUTH_a",
    metric: "requests.get",
    value: 5,
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete event[k];
    else event[k] = v;
  }
  return event as unknown as RawEvent;
};

/** The reason an event is refused (the test fails if it is accepted). */
function reason(event: RawEvent, names?: Record<string, string>): string {
  const v = validateEvent(event, names);
  if (v.ok) throw new Error(`accepted: ${JSON.stringify(eventToJson(v.event))}`);
  return v.reason;
}

function accepted(event: RawEvent): UsageEvent {
  const v = validateEvent(event);
  if (!v.ok) throw new Error(`refused: ${v.reason}`);
  return v.event;
}

describe("validateEvent: a good event", () => {
  it("is normalized: kind from the built-in metric, value as bigint, time in ms, no instance, no dims", () => {
    expect(accepted(raw())).toEqual({
      id: "e-1",
      server: "srv-1",
      time: T,
      account: "AUTH_a",
      metric: "requests.get",
      kind: "counter",
      value: 5n,
      instance: "",
      dims: null,
    });
  });

  it("keeps its instance and its dims, sorted by key; empty dims are none", () => {
    const e = accepted(raw({ instance: "bucket-1", dims: { site: "ams", group: "vo1", "storage.class": "hot" } }));
    expect(e.instance).toBe("bucket-1");
    expect(Object.keys(e.dims ?? {})).toEqual(["group", "site", "storage.class"]);
    expect(accepted(raw({ dims: {} })).dims).toBeNull();
    expect(accepted(raw({ dims: null, instance: null }))).toMatchObject({ dims: null, instance: "" });
  });

  it.each([
    ["storage.bytes", "level"],
    ["storage.files", "level"],
    ["storage.containers", "level"],
    ["storage.reserved", "level"],
    ["requests.get", "counter"],
    ["requests.put", "counter"],
    ["requests.head", "counter"],
    ["requests.post", "counter"],
    ["requests.delete", "counter"],
    ["requests.other", "counter"],
    ["bytes.in", "counter"],
    ["bytes.out", "counter"],
  ])("built-in %s is a %s, with or without an explicit matching kind", (metric, kind) => {
    expect(accepted(raw({ metric })).kind).toBe(kind);
    expect(accepted(raw({ metric, kind })).kind).toBe(kind);
  });

  it.each(["level", "counter", "state"])("another metric is accepted with kind %s", (kind) => {
    expect(accepted(raw({ metric: "vm.running", kind, value: 1 })).kind).toBe(kind);
  });

  it("takes exact values of any size up to 38 digits, as numbers or decimal strings", () => {
    expect(accepted(raw({ value: 0 })).value).toBe(0n);
    expect(accepted(raw({ value: Number.MAX_SAFE_INTEGER })).value).toBe(2n ** 53n - 1n);
    expect(accepted(raw({ value: "345876451382054092800" })).value).toBe(345876451382054092800n);
    expect(accepted(raw({ value: "9".repeat(38) })).value).toBe(10n ** 38n - 1n);
    expect(accepted(raw({ value: "-0" })).value).toBe(0n);
  });

  it("takes text with characters beyond U+FFFF, written as surrogate pairs", () => {
    const e = accepted(raw({ id: "e-\uD83D\uDE00", account: "😀", dims: { site: "🏠" } }));
    expect([e.id, e.account, e.dims]).toEqual(["e-😀", "😀", { site: "🏠" }]);
  });

  it("takes any script, spaces and punctuation in names; only controls and invisible formatting are refused", () => {
    const e = accepted(raw({ account: "Zoë's files (東京)", server: "swift 1/β", instance: "a b\u00A0c" }));
    expect([e.account, e.server, e.instance]).toEqual(["Zoë's files (東京)", "swift 1/β", "a b\u00A0c"]);
  });

  it("takes names and ids up to 256 bytes, counted in UTF-8", () => {
    expect(accepted(raw({ id: "x".repeat(LIMITS.idBytes) })).id).toHaveLength(256);
    expect(accepted(raw({ id: "é".repeat(128) })).id).toHaveLength(128);
    expect(
      accepted(raw({ server: "s".repeat(256), account: "a".repeat(256), instance: "i".repeat(256) })),
    ).toBeTruthy();
  });

  it.each(["a", "disk.iops", "a.b_c.d9", "x_1.2"])("metric name %s is accepted with a kind", (metric) => {
    expect(accepted(raw({ metric, kind: "counter" })).metric).toBe(metric);
  });
});

describe("validateEvent: every refusal names the field", () => {
  it.each([
    // Missing, null and empty.
    [{ id: undefined }, "id is missing"],
    [{ server: undefined }, "server is missing"],
    [{ time: undefined }, "time is missing"],
    [{ account: undefined }, "account is missing"],
    [{ metric: undefined }, "metric is missing"],
    [{ value: undefined }, "value is missing"],
    [{ id: null }, "id is missing"],
    [{ value: null }, "value is missing"],
    [{ time: null }, "time is missing"],
    [{ id: "" }, "id is empty"],
    [{ server: "" }, "server is empty"],
    [{ account: "" }, "account is empty"],
    [{ metric: "" }, "metric is empty"],
    // Wrong types.
    [{ id: 1 }, "id must be a string, not a number"],
    [{ server: 42 }, "server must be a string, not a number"],
    [{ account: ["a"] }, "account must be a string, not an array"],
    [{ metric: { name: "x" } }, "metric must be a string, not an object"],
    [{ time: true }, "time must be an RFC 3339 string or epoch milliseconds"],
    [{ value: { bytes: 1 } }, "value must be an integer (a JSON number or a decimal string), not an object"],
    [{ value: [1] }, "value must be an integer (a JSON number or a decimal string), not an array"],
    [{ value: false }, "value must be an integer (a JSON number or a decimal string), not a boolean"],
    [{ instance: 7 }, "instance must be a string, not a number"],
    [{ dims: "site=ams" }, "dims must be an object of strings, not a string"],
    [{ dims: ["ams"] }, "dims must be an object of strings, not an array"],
    [{ dims: { site: 1 } }, "dims.site must be a string, not a number"],
    [{ dims: { site: null } }, "dims.site must be a string, not null"],
    [{ dims: { "1site": "x" } }, 'dims key "1site" is not a valid name'],
    [{ dims: { "my site": "x" } }, 'dims key "my site" is not a valid name'],
    [{ dims: { ["k".repeat(65)]: "x" } }, `dims key "${"k".repeat(40)}…" is not a valid name`],
    [{ dims: { site: "v".repeat(257) } }, "dims.site is longer than 256 bytes"],
    [
      { dims: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])) },
      "dims has more than 32 entries",
    ],
    // Metrics and kinds.
    [
      { metric: "disk.iops" },
      'metric "disk.iops" is not built in and has no stored kind: give its kind (in this event or another of the batch)',
    ],
    [
      { metric: "constructor" },
      'metric "constructor" is not built in and has no stored kind: give its kind (in this event or another of the batch)',
    ],
    [{ metric: "Storage.Bytes" }, 'metric "Storage.Bytes" must be lower-case words separated by dots'],
    [{ metric: "storage..bytes" }, 'metric "storage..bytes" must be lower-case words separated by dots'],
    [{ metric: "9lives" }, 'metric "9lives" must be lower-case words separated by dots'],
    [{ metric: "storage.bytes." }, 'metric "storage.bytes." must be lower-case words separated by dots'],
    [{ kind: "gauge" }, 'kind must be "level", "counter" or "state"'],
    [{ kind: 1 }, 'kind must be "level", "counter" or "state"'],
    [{ kind: "level" }, 'kind "level" contradicts requests.get, a counter'],
    // Values: NaN, infinities, negatives, fractions, and what is not a decimal integer.
    [{ value: Number.NaN }, "value is NaN, not an integer"],
    [{ value: Number.POSITIVE_INFINITY }, "value is infinite, not an integer"],
    [{ value: Number.NEGATIVE_INFINITY }, "value is infinite, not an integer"],
    [{ value: 1.5 }, "value is 1.5, not an integer"],
    [{ value: 1e21 }, "value is beyond 2^53 as a JSON number; send it as a decimal string to keep it exact"],
    [{ value: 2 ** 53 }, "value is beyond 2^53 as a JSON number; send it as a decimal string to keep it exact"],
    [{ value: "NaN" }, 'value is "NaN", not a decimal integer'],
    [{ value: "Infinity" }, 'value is "Infinity", not a decimal integer'],
    [{ value: "1.5" }, 'value is "1.5", not a decimal integer'],
    [{ value: "1e3" }, 'value is "1e3", not a decimal integer'],
    [{ value: "0x10" }, 'value is "0x10", not a decimal integer'],
    [{ value: "+5" }, 'value is "+5", not a decimal integer'],
    [{ value: "05" }, 'value is "05", not a decimal integer'],
    [{ value: "1_000" }, 'value is "1_000", not a decimal integer'],
    [{ value: " 5" }, 'value is " 5", not a decimal integer'],
    [{ value: "" }, 'value is "", not a decimal integer'],
    [{ value: "9".repeat(39) }, "value has more than 38 digits"],
    [{ value: -1 }, "value is negative; a counter cannot be"],
    [{ value: "-5" }, "value is negative; a counter cannot be"],
    [{ metric: "storage.bytes", value: -1 }, "value is negative; a level cannot be"],
    [{ metric: "vm.running", kind: "state", value: -1 }, "value is negative; a state cannot be"],
    [{ metric: "vm.running", kind: "state", value: 2 }, "value must be 0 or 1 for a state"],
    // Times.
    [{ time: "yesterday" }, 'time "yesterday" is not an RFC 3339 time (like 2026-11-23T12:00:00Z)'],
    [{ time: "2026-13-01T00:00:00Z" }, 'time "2026-13-01T00:00:00Z" is not a valid calendar time'],
    [{ time: 1.5 }, "time is 1.5: epoch milliseconds must be an integer"],
    [{ time: -1 }, "time is -1: epoch milliseconds out of range (1970 to 9999)"],
    // Lengths, in UTF-8 bytes.
    [{ id: "i".repeat(257) }, "id is longer than 256 bytes"],
    [{ id: "é".repeat(129) }, "id is longer than 256 bytes"],
    [{ server: "s".repeat(257) }, "server is longer than 256 bytes"],
    [{ account: "€".repeat(86) }, "account is longer than 256 bytes"],
    [{ metric: `a${".b".repeat(128)}` }, "metric is longer than 256 bytes"],
    [{ instance: "i".repeat(257) }, "instance is longer than 256 bytes"],
    [{ id: "e\uD800" }, "id holds a lone UTF-16 surrogate, which is not Unicode text"],
    [{ account: "\uDE00a" }, "account holds a lone UTF-16 surrogate, which is not Unicode text"],
    [{ instance: "b\uD83D" }, "instance holds a lone UTF-16 surrogate, which is not Unicode text"],
    [{ dims: { site: "x\uDC00" } }, "dims.site holds a lone UTF-16 surrogate, which is not Unicode text"],
    // Names that could look like other names, or that a store cannot keep.
    [{ id: "a\u0000" }, "id holds U+0000, a control or invisible formatting character"],
    [{ server: "s\u0000" }, "server holds U+0000, a control or invisible formatting character"],
    [{ account: "AUTH_a\nAUTH_b" }, "account holds U+000A, a control or invisible formatting character"],
    [{ account: "AUTH_\u202Eevil" }, "account holds U+202E, a control or invisible formatting character"],
    [{ account: "a\u200Bb" }, "account holds U+200B, a control or invisible formatting character"],
    [{ server: "s\u0085" }, "server holds U+0085, a control or invisible formatting character"],
    [{ instance: "b\u007F" }, "instance holds U+007F, a control or invisible formatting character"],
    [{ dims: { site: "x\u0000" } }, "dims.site holds U+0000, a control or invisible formatting character"],
  ] as const)("%j: %s", (overrides, expected) => {
    expect(reason(raw(overrides as Partial<Record<keyof RawEvent, unknown>>))).toBe(expected);
  });

  it("echoes the id when it is a string, and only then", () => {
    expect(validateEvent(raw({ value: -1 }))).toEqual({
      ok: false,
      id: "e-1",
      reason: "value is negative; a counter cannot be",
    });
    expect(validateEvent(raw({ id: 7 }))).toMatchObject({ ok: false, id: undefined });
    expect(validateEvent(raw({ id: "i".repeat(300) }))).toMatchObject({ ok: false, id: "i".repeat(300) });
  });

  it("reports the first field in order id, server, account, metric, time, kind, value", () => {
    const all = { server: 1, account: 1, metric: 1, time: "x", kind: "x", value: "x" };
    expect(reason(raw({ ...all, id: 1 }))).toMatch(/^id /);
    expect(reason(raw(all))).toMatch(/^server /);
    expect(reason(raw({ ...all, server: "s" }))).toMatch(/^account /);
    expect(reason(raw({ ...all, server: "s", account: "a" }))).toMatch(/^metric /);
    expect(reason(raw({ ...all, server: "s", account: "a", metric: "m" }))).toMatch(/^time /);
    expect(reason(raw({ server: "s", account: "a", metric: "m", kind: "x", value: "x" }))).toMatch(/^kind /);
    expect(reason(raw({ server: "s", account: "a", metric: "m", kind: "counter", value: "x" }))).toMatch(/^value /);
  });
});

describe("validateEvent with an envelope's field names (CloudEvents)", () => {
  const CE = {
    server: "source",
    account: "subject",
    metric: "type",
    value: "data.value",
    instance: "data.instance",
    dims: "data.dims",
    kind: "data.kind",
  };

  it.each([
    [{ server: undefined }, "source is missing"],
    [{ account: 7 }, "subject must be a string, not a number"],
    [
      { metric: "com.example.usage" },
      'type "com.example.usage" is not built in and has no stored kind: give its data.kind (in this event or another of the batch)',
    ],
    [{ metric: "Com.Example" }, 'type "Com.Example" must be lower-case words separated by dots'],
    [{ value: undefined }, "data.value is missing"],
    [{ value: -3 }, "data.value is negative; a counter cannot be"],
    [{ value: "1.5" }, 'data.value is "1.5", not a decimal integer'],
    [{ value: Number.POSITIVE_INFINITY }, "data.value is infinite, not an integer"],
    [{ instance: 1 }, "data.instance must be a string, not a number"],
    [{ dims: { site: 1 } }, "data.dims.site must be a string, not a number"],
    [{ dims: [] }, "data.dims must be an object of strings, not an array"],
    [{ kind: "gauge" }, 'data.kind must be "level", "counter" or "state"'],
    [{ kind: "level" }, 'data.kind "level" contradicts requests.get, a counter'],
    // id and time have the same names in CloudEvents.
    [{ id: undefined }, "id is missing"],
    [{ time: "yesterday" }, 'time "yesterday" is not an RFC 3339 time (like 2026-11-23T12:00:00Z)'],
  ] as const)("%j: %s", (overrides, expected) => {
    expect(reason(raw(overrides as Partial<Record<keyof RawEvent, unknown>>), CE)).toBe(expected);
  });
});

describe("eventToJson", () => {
  it("writes values within 2^53 as numbers and beyond as decimal strings, and leaves out what is empty", () => {
    expect(eventToJson(accepted(raw()))).toEqual({
      id: "e-1",
      server: "srv-1",
      time: "2026-11-23T12:00:00.000Z",
      account: "AUTH_a",
      metric: "requests.get",
      kind: "counter",
      value: 5,
    });
    const big = eventToJson(accepted(raw({ value: "345876451382054092800", instance: "b", dims: { site: "x" } })));
    expect(big).toMatchObject({ value: "345876451382054092800", instance: "b", dims: { site: "x" } });
    expect(eventToJson(accepted(raw({ value: Number.MAX_SAFE_INTEGER }))).value).toBe(Number.MAX_SAFE_INTEGER);
    expect(eventToJson(accepted(raw({ value: "9007199254740992" }))).value).toBe("9007199254740992");
  });

  it("round-trips through JSON text and validateEvent to the same event", () => {
    const name = fc.string({ minLength: 1, maxLength: 40 });
    const event = fc.record({
      id: fc.oneof(fc.uuid(), name),
      server: name,
      account: name,
      time: fc.integer({ min: 0, max: 253_402_300_799_999 }),
      metric: fc.constantFrom("storage.bytes", "requests.get", "bytes.out"),
      value: fc.bigInt({ min: 0n, max: 10n ** 38n - 1n }),
      instance: fc.option(name, { nil: undefined }),
      dims: fc.option(fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_.-]{0,20}$/), fc.string({ maxLength: 30 })), {
        nil: undefined,
      }),
    });
    fc.assert(
      fc.property(event, (input) => {
        const first = accepted(raw({ ...input, value: input.value.toString() }));
        const again = accepted(JSON.parse(JSON.stringify(eventToJson(first))) as RawEvent);
        expect(again).toEqual(first);
        expect(again.value).toBe(input.value);
      }),
    );
  });
});
