import { describe, expect, it } from "vitest";
import { AppError } from "../domain/errors.js";
import { validateEvent } from "../domain/event.js";
import { type BatchItem, EVENT_MEDIA_TYPES, mediaType, parseEventBody, parseNdjson } from "./parse-body.js";

const EVENT = {
  id: "e-1",
  server: "srv-1",
  time: "2026-11-23T12:00:00Z",
  account: "AUTH_a",
  metric: "requests.get",
  value: 5,
};

const CLOUD_EVENT = {
  specversion: "1.0",
  id: "e-1",
  source: "srv-1",
  time: "2026-11-23T12:00:00Z",
  subject: "AUTH_a",
  type: "requests.get",
  data: { value: 5 },
};

/** The AppError a body is refused with (the test fails if it is not refused). */
function refusal(body: string, contentType: string | undefined): AppError {
  return refusalOf(() => parseEventBody(body, contentType));
}

/** What validation says of each item: the event's id, or the reason it is refused. */
function outcomes(items: readonly BatchItem[]): string[] {
  return items.map((item) => {
    if ("error" in item) return `error: ${item.error}`;
    const v = validateEvent(item.raw, item.names);
    return v.ok ? `ok: ${v.event.id}` : `refused: ${v.reason}`;
  });
}

describe("mediaType", () => {
  it.each([
    ["application/json", "application/json"],
    ["Application/JSON; charset=utf-8", "application/json"],
    [" application/x-ndjson ;q=1", "application/x-ndjson"],
    ["", ""],
    [undefined, ""],
    [null, ""],
  ])("%j is %j", (header, type) => {
    expect(mediaType(header)).toBe(type);
  });
});

describe("parseEventBody: the envelope", () => {
  it.each(["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/ndjson"])(
    "refuses %s with 415, naming it and every accepted type",
    (type) => {
      const error = refusal(JSON.stringify(EVENT), type);
      expect(error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      expect(error.message).toBe(
        `content type "${mediaType(type)}" is not accepted; send one of ${EVENT_MEDIA_TYPES.join(", ")}`,
      );
    },
  );

  it("refuses a body without a content type with 415", () => {
    expect(refusal("{}", undefined).message).toMatch(/^content type "\(none\)" is not accepted/);
  });

  it("checks the content type before the body", () => {
    expect(refusal("", "text/plain").code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it.each(EVENT_MEDIA_TYPES.flatMap((type) => ["", " ", "\n\n", "\t\r\n"].map((body) => [type, body] as const)))(
    "%s: refuses the empty body %j",
    (type, body) => {
      const error = refusal(body, type);
      expect(error.code).toBe("VALIDATION");
      expect(error.message).toBe("the body is empty: send at least one event");
    },
  );

  it.each(["application/json", "application/cloudevents+json", "application/cloudevents-batch+json"])(
    "%s: refuses what is not JSON, cut short or not, as a whole",
    (type) => {
      for (const body of ["nonsense", `[${JSON.stringify(EVENT)}`, '{"id": "e-1",', "[1,]", "NaN", `{"value": NaN}`]) {
        const error = refusal(body, type);
        expect(error.code).toBe("VALIDATION");
        expect(error.message).toMatch(/^the body is not valid JSON: /);
      }
    },
  );
});

describe("parseEventBody: application/json", () => {
  it("takes an array, one item per element, and a single object as a batch of one", () => {
    expect(parseEventBody(JSON.stringify([EVENT, { ...EVENT, id: "e-2" }]), "application/json")).toEqual([
      { raw: EVENT },
      { raw: { ...EVENT, id: "e-2" } },
    ]);
    expect(parseEventBody(JSON.stringify(EVENT), "application/json")).toEqual([{ raw: EVENT }]);
    expect(parseEventBody("[]", "application/json")).toEqual([]);
  });

  it("makes every element that is not an object an item of its own with a reason", () => {
    expect(parseEventBody('[1, "x", null, [], true, {}]', "application/json")).toEqual([
      { error: "an event must be a JSON object, not a number" },
      { error: "an event must be a JSON object, not a string" },
      { error: "an event must be a JSON object, not null" },
      { error: "an event must be a JSON object, not an array" },
      { error: "an event must be a JSON object, not a boolean" },
      { raw: {} },
    ]);
    expect(parseEventBody("42", "application/json")).toEqual([
      { error: "an event must be a JSON object, not a number" },
    ]);
  });

  it("reads 1e400 as Infinity, which validation then refuses by name", () => {
    const items = parseEventBody(JSON.stringify(EVENT).replace('"value":5', '"value":1e400'), "application/json");
    expect(outcomes(items)).toEqual(["refused: value is infinite, not an integer"]);
  });
});

describe("parseNdjson", () => {
  const line = (id: string) => JSON.stringify({ ...EVENT, id });

  it("makes one item per non-blank line, with CRLF and surrounding spaces allowed", () => {
    const body = `${line("a")}\r\n\n   \n  ${line("b")}  \n${line("c")}`;
    expect(outcomes(parseNdjson(body))).toEqual(["ok: a", "ok: b", "ok: c"]);
  });

  it("rejects a line that is not JSON by itself, numbering lines as an editor does, blank ones included", () => {
    const body = `${line("a")}\n\n{"id": "b", NaN}\n${line("c")}\nnot json\n${line("d")}\n`;
    expect(outcomes(parseNdjson(body))).toEqual([
      "ok: a",
      "error: line 3 is not valid JSON",
      "ok: c",
      "error: line 5 is not valid JSON",
      "ok: d",
    ]);
  });

  it("says a last line without its newline may have been cut short", () => {
    const full = `${line("a")}\n${line("b")}\n`;
    expect(outcomes(parseNdjson(full.slice(0, -10)))).toEqual([
      "ok: a",
      "error: line 2 is not valid JSON (cut short?)",
    ]);
    // A complete last line without a newline is fine.
    expect(outcomes(parseNdjson(full.slice(0, -1)))).toEqual(["ok: a", "ok: b"]);
  });

  it("rejects lines that are JSON but not objects", () => {
    expect(parseNdjson('1\n"x"\nnull\n[{}]\n')).toEqual([
      { error: "an event must be a JSON object, not a number" },
      { error: "an event must be a JSON object, not a string" },
      { error: "an event must be a JSON object, not null" },
      { error: "an event must be a JSON object, not an array" },
    ]);
  });

  it("is what parseEventBody uses for application/x-ndjson", () => {
    const body = `${line("a")}\n{oops\n`;
    expect(parseEventBody(body, "application/x-ndjson; charset=utf-8")).toEqual(parseNdjson(body));
  });
});

describe("parseEventBody: CloudEvents", () => {
  it("maps source, subject, type and data onto the event, and names the CloudEvents fields", () => {
    const ce = { ...CLOUD_EVENT, data: { value: "345876451382054092800", instance: "b", dims: { site: "x" } } };
    const [item] = parseEventBody(JSON.stringify(ce), "application/cloudevents+json");
    expect(item).toEqual({
      raw: {
        id: "e-1",
        server: "srv-1",
        time: "2026-11-23T12:00:00Z",
        account: "AUTH_a",
        metric: "requests.get",
        value: "345876451382054092800",
        kind: undefined,
        instance: "b",
        dims: { site: "x" },
      },
      names: {
        server: "source",
        account: "subject",
        metric: "type",
        value: "data.value",
        instance: "data.instance",
        dims: "data.dims",
        kind: "data.kind",
      },
    });
  });

  it("takes a batch as an array and refuses a batch that is not one", () => {
    const batch = [CLOUD_EVENT, { ...CLOUD_EVENT, id: "e-2" }];
    expect(outcomes(parseEventBody(JSON.stringify(batch), "application/cloudevents-batch+json"))).toEqual([
      "ok: e-1",
      "ok: e-2",
    ]);
    const error = refusal(JSON.stringify(CLOUD_EVENT), "application/cloudevents-batch+json");
    expect(error.code).toBe("VALIDATION");
    expect(error.message).toBe("a CloudEvents batch must be a JSON array");
  });

  it.each([
    [{ specversion: undefined }, 'error: specversion must be "1.0"'],
    [{ specversion: "0.3" }, 'error: specversion must be "1.0"'],
    [{ specversion: 1 }, 'error: specversion must be "1.0"'],
    [{ data: undefined }, "error: data is missing: it must be an object with a value"],
    [{ data: null }, "error: data must be an object with a value, not null"],
    [{ data: 5 }, "error: data must be an object with a value, not a number"],
    [{ data: [5] }, "error: data must be an object with a value, not an array"],
    [{ data: {} }, "refused: data.value is missing"],
    [{ data: { value: -1 } }, "refused: data.value is negative; a counter cannot be"],
    [{ data: { value: "1.5" } }, 'refused: data.value is "1.5", not a decimal integer'],
    [{ data: { value: "NaN" } }, 'refused: data.value is "NaN", not a decimal integer'],
    [{ data: { value: 1, dims: { site: 2 } } }, "refused: data.dims.site must be a string, not a number"],
    [{ data: { value: 1, instance: 2 } }, "refused: data.instance must be a string, not a number"],
    [{ data: { value: 1, kind: "gauge" } }, 'refused: data.kind must be "level", "counter" or "state"'],
    [{ source: undefined }, "refused: source is missing"],
    [{ source: 42 }, "refused: source must be a string, not a number"],
    [{ subject: undefined }, "refused: subject is missing"],
    [{ subject: ["a"] }, "refused: subject must be a string, not an array"],
    [{ type: undefined }, "refused: type is missing"],
    [
      { type: "com.example.usage" },
      'refused: type "com.example.usage" is not built in and has no stored kind: give its data.kind (in this event or another of the batch)',
    ],
    [{ time: undefined }, "refused: time is missing"],
    [{ time: "2026-13-01T00:00:00Z" }, 'refused: time "2026-13-01T00:00:00Z" is not a valid calendar time'],
    [{ id: undefined }, "refused: id is missing"],
  ] as const)("%j: %s", (overrides, expected) => {
    const ce: Record<string, unknown> = { ...CLOUD_EVENT };
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined) delete ce[k];
      else ce[k] = v;
    }
    expect(outcomes(parseEventBody(JSON.stringify(ce), "application/cloudevents+json"))).toEqual([expected]);
  });

  it("keeps the id of a CloudEvent refused before validation, so the answer can name it", () => {
    const [item] = parseEventBody(
      JSON.stringify({ ...CLOUD_EVENT, specversion: "0.3" }),
      "application/cloudevents+json",
    );
    expect(item).toEqual({ error: 'specversion must be "1.0"', id: "e-1" });
  });

  it("makes an element that is not an object an item with a reason", () => {
    expect(parseEventBody('[1, "x"]', "application/cloudevents-batch+json")).toEqual([
      { error: "a CloudEvent must be a JSON object, not a number" },
      { error: "a CloudEvent must be a JSON object, not a string" },
    ]);
  });
});

describe("parseEventBody: bytes that are not UTF-8", () => {
  const bytes = (...parts: (string | number[] | Uint8Array)[]) =>
    Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
  const line = (fields: Record<string, unknown>) => JSON.stringify({ ...EVENT, ...fields });

  it("refuses only the NDJSON lines that hold them, naming the field, so two ids never become one", () => {
    const body = bytes(
      line({ id: "ok-1" }),
      "\n",
      '{"id":"utf',
      [0xff],
      '","server":"srv-1","time":"2026-11-23T12:00:00Z","account":"AUTH_a","metric":"requests.get","value":1}\n',
      '{"id":"utf',
      [0xfe],
      '","server":"srv-1","time":"2026-11-23T12:00:00Z","account":"AUTH_a","metric":"requests.get","value":1}\n',
      '{"id":"e-9","server":"srv-1","time":"2026-11-23T12:00:00Z","account":"AUTH_',
      [0xc3, 0x28],
      '","metric":"requests.get","value":1}\n',
      "\n",
      line({ id: "ok-2" }),
    );
    expect(outcomes(parseEventBody(body, "application/x-ndjson"))).toEqual([
      "ok: ok-1",
      "error: id holds bytes that are not UTF-8",
      "error: id holds bytes that are not UTF-8",
      "error: account holds bytes that are not UTF-8",
      "ok: ok-2",
    ]);
    const items = parseEventBody(body, "application/x-ndjson");
    expect(items[3]).toEqual({ error: "account holds bytes that are not UTF-8", id: "e-9" });
    expect(items[1]).toEqual({ error: "id holds bytes that are not UTF-8" });
  });

  it("judges syntax first: a line that is not JSON says so, with its number counted as before", () => {
    const body = bytes(line({ id: "a" }), "\n\n", [0xff, 0xfe], "\n", line({ id: "b" }));
    expect(outcomes(parseEventBody(body, "application/x-ndjson"))).toEqual([
      "ok: a",
      "error: line 3 is not valid JSON",
      "ok: b",
    ]);
  });

  it("refuses only the array elements that hold them; dims and CloudEvents fields are named as sent", () => {
    const bad = bytes('{"id":"d","server":"srv-1","dims":{"site":"x', [0x80], '"}}');
    const body = bytes("[", line({ id: "a" }), ",", bad, ", ", line({ id: "b" }), "]");
    expect(outcomes(parseEventBody(body, "application/json"))).toEqual([
      "ok: a",
      "error: dims.site holds bytes that are not UTF-8",
      "ok: b",
    ]);
    const ce = bytes(
      "[",
      JSON.stringify(CLOUD_EVENT),
      ',{"specversion":"1.0","id":"c2","source":"srv-1","subject":"AUTH_',
      [0xed, 0xa0, 0x80],
      '","type":"requests.get","time":"2026-11-23T12:00:00Z","data":{"value":1}}]',
    );
    expect(outcomes(parseEventBody(ce, "application/cloudevents-batch+json"))).toEqual([
      "ok: e-1",
      "error: subject holds bytes that are not UTF-8",
    ]);
    const single = bytes('{"id":"s","server":"srv-', [0xff], '"}');
    expect(outcomes(parseEventBody(single, "application/json"))).toEqual([
      "error: server holds bytes that are not UTF-8",
    ]);
  });

  it("a JSON body that is not JSON is still a 400, whatever its bytes", () => {
    expect(() => parseEventBody(bytes("[", line({ id: "a" }), ",{", [0xff], "]"), "application/json")).toThrow(
      /not valid JSON/,
    );
    expect(() => parseEventBody(bytes([0xff, 0x20, 0x7b]), "application/json")).toThrow(/not valid JSON/);
  });
});

describe("parseEventBody: the number of events", () => {
  it("refuses more lines or elements than the limit with 413, before reading them", () => {
    const tooMany = refusalOf(() => parseEventBody("1\n".repeat(11), "application/x-ndjson", 10));
    expect(tooMany.code).toBe("TOO_LARGE");
    expect(tooMany.message).toMatch(/more than 10 lines; one request takes at most 10/);
    expect(parseEventBody("{}\n".repeat(10), "application/x-ndjson", 10)).toHaveLength(10);
    expect(refusalOf(() => parseEventBody(Buffer.from("\n".repeat(11)), "application/x-ndjson", 10)).code).toBe(
      "TOO_LARGE",
    );
    expect(refusalOf(() => parseEventBody(`[${"{},".repeat(10)}{}]`, "application/json", 10)).message).toMatch(
      /11 elements/,
    );
    const notUtf8 = Buffer.concat([Buffer.from(`[${"{},".repeat(10)}"`), Buffer.from([0xff]), Buffer.from('"]')]);
    expect(refusalOf(() => parseEventBody(notUtf8, "application/json", 10)).code).toBe("TOO_LARGE");
  });
});

/** The AppError a parse throws (the test fails if it does not). */
function refusalOf(parse: () => unknown): AppError {
  try {
    parse();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("the body was not refused");
}
