// Turns a POST /v1/events body (JSON array, NDJSON or CloudEvents) into raw events, one per line or element.

import { AppError } from "../domain/errors.js";
import type { RawEvent } from "../domain/event.js";
import { describeType } from "../domain/value.js";

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

export function parseEventBody(body: string, contentType: string | undefined | null): BatchItem[] {
  const type = mediaType(contentType);
  if (!(EVENT_MEDIA_TYPES as readonly string[]).includes(type)) {
    throw new AppError(
      "UNSUPPORTED_MEDIA_TYPE",
      `content type "${type || "(none)"}" is not accepted; send one of ${EVENT_MEDIA_TYPES.join(", ")}`,
    );
  }
  if (body.trim() === "") throw new AppError("VALIDATION", "the body is empty: send at least one event");
  if (type === "application/x-ndjson") return parseNdjson(body);
  const json = parseJson(body);
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
    const line = body.slice(start, end).trim();
    start = end + 1;
    if (line === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      items.push({ error: `line ${lineNumber} is not valid JSON${end === body.length ? " (cut short?)" : ""}` });
      continue;
    }
    items.push(plainItem(json));
  }
  return items;
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
