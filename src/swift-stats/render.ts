// The answers, as the seed names them: JSON [header, data] with exact integers, or the same in XML.

import { COUNTER_FIELDS, type Counters, SPACE_FIELDS, type Space } from "./fields.js";
import type { QueryMethod, SwiftStatsQuery } from "./query.js";
import { formatSwiftTime } from "./swift-time.js";

export type SwiftStatsData =
  | { readonly method: "io_sum"; readonly data: Counters }
  | { readonly method: "io_detail"; readonly data: readonly [number, Counters][] }
  | { readonly method: "space_detail"; readonly data: readonly [number, Space][] };

export interface Rendered {
  readonly contentType: string;
  readonly body: string;
}

export function render(query: SwiftStatsQuery, answer: SwiftStatsData): Rendered {
  return query.format === "xml"
    ? { contentType: "application/xml; charset=utf-8", body: renderXml(query, answer) }
    : { contentType: "application/json; charset=utf-8", body: renderJson(query, answer) };
}

type Json = string | bigint | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/**
 * JSON where a bigint is written as a number from its decimal digits: valid JSON and exact at any size (Python's
 * json, jq 1.7 and JSON.parse with a reviver read it exactly; plain JSON.parse rounds beyond 2^53).
 */
export function exactJson(value: Json): string {
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(exactJson).join(",")}]`;
  const entries = Object.entries(value as { readonly [key: string]: Json });
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${exactJson(v)}`).join(",")}}`;
}

function header(query: SwiftStatsQuery): Record<string, string> {
  return {
    Account_ID: query.account,
    "Begin Time": formatSwiftTime(query.fromHour),
    "End Time": formatSwiftTime(query.toHour),
  };
}

function renderJson(query: SwiftStatsQuery, answer: SwiftStatsData): string {
  let data: string;
  if (answer.method === "io_sum") data = jsonFields(answer.data, COUNTER_KEYS);
  else if (answer.method === "io_detail") data = jsonHours(answer.data, COUNTER_KEYS);
  else data = jsonHours(answer.data, SPACE_KEYS);
  return `[${exactJson(header(query))},${data}]`;
}

/** Each field with the JSON text before its value: `{"a":`, `,"b":` …, for writing objects of them directly. */
type JsonKeys<F extends string> = readonly (readonly [F, string])[];

function jsonKeys<F extends string>(fields: readonly F[]): JsonKeys<F> {
  return fields.map((f, i) => [f, `${i === 0 ? "{" : ","}${JSON.stringify(f)}:`] as const);
}

const COUNTER_KEYS = jsonKeys(COUNTER_FIELDS);
const SPACE_KEYS = jsonKeys(SPACE_FIELDS);

/** {"field":value,…} in the fields' order; written directly, as a month of hours is thousands of them. */
function jsonFields<F extends string>(values: Record<F, bigint>, keys: JsonKeys<F>): string {
  let out = "";
  for (const [field, key] of keys) out += key + values[field];
  return `${out}}`;
}

function jsonHours<F extends string>(rows: readonly [number, Record<F, bigint>][], keys: JsonKeys<F>): string {
  const out: string[] = [];
  for (const [hour, values] of rows) out.push(`"${formatSwiftTime(hour)}":${jsonFields(values, keys)}`);
  return `{${out.join(",")}}`;
}

/**
 * <io_sum|io_detail|space_detail>
 *   <header><Account_ID/><Begin_Time/><End_Time/></header>
 *   <data> the fields (io_sum), or one <hour time="YYYY-MM-DD HH:00:00"> per hour with the fields </data>
 * </…>
 * "Begin Time" and "End Time" become Begin_Time and End_Time, and hours an attribute: XML names have no spaces.
 */
function renderXml(query: SwiftStatsQuery, answer: SwiftStatsData): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<${answer.method}>`, "  <header>"];
  lines.push(`    <Account_ID>${xmlEscape(query.account)}</Account_ID>`);
  lines.push(`    <Begin_Time>${formatSwiftTime(query.fromHour)}</Begin_Time>`);
  lines.push(`    <End_Time>${formatSwiftTime(query.toHour)}</End_Time>`);
  lines.push("  </header>");
  const fields = <F extends string>(values: Record<F, bigint>, names: readonly F[], indent: string) => {
    for (const f of names) lines.push(`${indent}<${f}>${values[f]}</${f}>`);
  };
  if (answer.method === "io_sum") {
    lines.push("  <data>");
    fields(answer.data, COUNTER_FIELDS, "    ");
    lines.push("  </data>");
  } else {
    lines.push("  <data>");
    const hours: readonly [number, Counters | Space][] = answer.data;
    for (const [hour, values] of hours) {
      lines.push(`    <hour time="${formatSwiftTime(hour)}">`);
      if (answer.method === "io_detail") fields(values as Counters, COUNTER_FIELDS, "      ");
      else fields(values as Space, SPACE_FIELDS, "      ");
      lines.push("    </hour>");
    }
    lines.push("  </data>");
  }
  lines.push(`</${answer.method satisfies QueryMethod}>`);
  return `${lines.join("\n")}\n`;
}

/** Characters XML 1.0 cannot carry even escaped: most C0 controls, U+FFFE, U+FFFF and lone surrogates. */
const NOT_XML =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are what is matched
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Escapes text for an element or attribute, and replaces what XML 1.0 cannot carry at all. */
export function xmlEscape(text: string): string {
  return text.replace(NOT_XML, "\ufffd").replace(/[&<>"']/g, (ch) => XML_ENTITIES[ch] as string);
}

const XML_ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };
