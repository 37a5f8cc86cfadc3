// Turns a POST /v1/events body (JSON array, NDJSON or CloudEvents) into raw events, one per line or element.

import { AppError } from "../domain/errors.js";
import { LIMITS, type RawEvent } from "../domain/event.js";
import { describeType } from "../domain/value.js";
import { decodeLeniently, decodeUtf8, fieldWithReplacement, lineCount, splitJsonArray } from "./utf8-body.js";

/** One element of a batch: the raw fields, or why they could not be read at all. */
export type BatchItem =
  | { readonly raw: RawEvent; readonly names?: Readonly<Record<string, string>> }
  | { readonly error: string; readonly id?: string };

export const EVENT_MEDIA_TYPES = [
  "application/json",
  "application/x-ndjson",
  "application/cloudevents+json",
  "application/cloudevents-batch+json",
] as const;

const CLOUDEVENT_NAMES = {
  server: "source",
  account: "subject",
  metric: "type",
  value: "data.value",
  instance: "data.instance",
  dims: "data.dims",
  kind: "data.kind",
};

export function mediaType(contentType: string | undefined | null): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * Reads a body as the bytes that were sent (or text already decoded, from a file the CLI read). Bytes that are not
 * UTF-8 reject the line or element that holds them, never decode to U+FFFD: two ids that differ only there must
 * not become one.
 */
export function parseEventBody(
  body: string | Uint8Array,
  contentType: string | undefined | null,
  maxEvents: number = LIMITS.batchEvents,
): BatchItem[] {
  const type = mediaType(contentType);
  if (!(EVENT_MEDIA_TYPES as readonly string[]).includes(type)) {
    throw new AppError(
      "UNSUPPORTED_MEDIA_TYPE",
      `content type "${type || "(none)"}" is not accepted; send one of ${EVENT_MEDIA_TYPES.join(", ")}`,
    );
  }
  if (type === "application/x-ndjson") {
    if (lineCount(body, maxEvents) > maxEvents) throw tooManyEvents(`more than ${maxEvents} lines`, maxEvents);
  } else if (typeof body !== "string" && body.length > 2 * maxEvents) {
    // Counted before parsing (an element takes two bytes at least, with its comma): JSON.parse of millions of tiny
    // elements is the cost the limit exists to spare.
    const elements = splitJsonArray(body, maxEvents);
    if (elements && elements.length > maxEvents) throw tooManyEvents(`more than ${maxEvents} elements`, maxEvents);
  }
  const text = typeof body === "string" ? body : decodeUtf8(body);
  if (text === null) return parseInvalidUtf8(body as Uint8Array, type, maxEvents);
  if (text.trim() === "") throw new AppError("VALIDATION", "the body is empty: send at least one event");
  if (type === "application/x-ndjson") return parseNdjson(text);
  const json = parseJson(text);
  if (Array.isArray(json) && json.length > maxEvents) throw tooManyEvents(`${json.length} elements`, maxEvents);
  switch (type) {
    case "application/json":
      return (Array.isArray(json) ? json : [json]).map(plainItem);
    case "application/cloudevents+json":
      return [cloudEventItem(json)];
    default:
      if (!Array.isArray(json)) throw new AppError("VALIDATION", "a CloudEvents batch must be a JSON array");
      return json.map(cloudEventItem);
  }
}

function tooManyEvents(found: string, maxEvents: number): AppError {
  return new AppError(
    "TOO_LARGE",
    `the batch has ${found}; one request takes at most ${maxEvents}: send the rest in another request`,
  );
}

/**
 * The rare body with bytes that are not UTF-8: each line or element is decoded alone, and only those with such bytes
 * are refused. Syntax is judged first, as for any body, on the text read leniently.
 */
function parseInvalidUtf8(body: Uint8Array, type: string, maxEvents: number): BatchItem[] {
  const item = type === "application/json" ? plainItem : cloudEventItem;
  if (type === "application/x-ndjson") {
    const items: BatchItem[] = [];
    let start = 0;
    let lineNumber = 0;
    while (start < body.length) {
      lineNumber++;
      let end = body.indexOf(0x0a, start);
      if (end === -1) end = body.length;
      const bytes = body.subarray(start, end);
      const text = decodeUtf8(bytes);
      const line = lineItem(text ?? decodeLeniently(bytes), lineNumber, end === body.length);
      if (line) items.push(text === null && "raw" in line ? notUtf8(line.raw) : line);
      start = end + 1;
    }
    return items;
  }
  const elements = splitJsonArray(body, maxEvents);
  if (elements === null) {
    const json = parseJson(decodeLeniently(body));
    if (type === "application/cloudevents-batch+json") {
      throw new AppError("VALIDATION", "a CloudEvents batch must be a JSON array");
    }
    const only = item(json);
    return ["raw" in only ? notUtf8(json as Record<string, unknown>) : only];
  }
  if (elements.length > maxEvents) throw tooManyEvents(`more than ${maxEvents} elements`, maxEvents);
  return elements.map((bytes) => {
    const text = decodeUtf8(bytes);
    const json = parseJson(text ?? decodeLeniently(bytes));
    const element = item(json);
    return text === null && "raw" in element ? notUtf8(json as Record<string, unknown>) : element;
  });
}

/** The refusal of an event object that held bytes that are not UTF-8, with its id when the id itself is sound. */
function notUtf8(json: object): BatchItem {
  const field = fieldWithReplacement(json);
  const id = (json as Record<string, unknown>).id;
  const error = field === null ? "the event is not valid UTF-8" : `${field} holds bytes that are not UTF-8`;
  return typeof id === "string" && !id.includes("\uFFFD") ? { error, id } : { error };
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new AppError("VALIDATION", `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Each line stands alone: a line that does not parse is rejected and the others go on. */
export function parseNdjson(body: string): BatchItem[] {
  const items: BatchItem[] = [];
  let start = 0;
  // Counts every line, blank ones too, so that a reason points at the line as an editor numbers it.
  let lineNumber = 0;
  while (start < body.length) {
    lineNumber++;
    let end = body.indexOf("\n", start);
    if (end === -1) end = body.length;
    const item = lineItem(body.slice(start, end), lineNumber, end === body.length);
    if (item) items.push(item);
    start = end + 1;
  }
  return items;
}

/** One NDJSON line's item, or null for a blank line. */
function lineItem(text: string, lineNumber: number, last: boolean): BatchItem | null {
  const line = text.trim();
  if (line === "") return null;
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { error: `line ${lineNumber} is not valid JSON${last ? " (cut short?)" : ""}` };
  }
  return plainItem(json);
}

function plainItem(json: unknown): BatchItem {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { error: `an event must be a JSON object, not ${describeType(json)}` };
  }
  return { raw: json as RawEvent };
}

function cloudEventItem(json: unknown): BatchItem {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { error: `a CloudEvent must be a JSON object, not ${describeType(json)}` };
  }
  const ce = json as Record<string, unknown>;
  const id = typeof ce.id === "string" ? ce.id : undefined;
  if (ce.specversion !== "1.0") return { error: 'specversion must be "1.0"', ...(id ? { id } : {}) };
  const data = ce.data;
  if (data === undefined) return { error: "data is missing: it must be an object with a value", ...(id ? { id } : {}) };
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return { error: `data must be an object with a value, not ${describeType(data)}`, ...(id ? { id } : {}) };
  }
  const d = data as Record<string, unknown>;
  return {
    raw: {
      id: ce.id,
      server: ce.source,
      time: ce.time,
      account: ce.subject,
      metric: ce.type,
      value: d.value,
      kind: d.kind,
      instance: d.instance,
      dims: d.dims,
    },
    names: CLOUDEVENT_NAMES,
  };
}
