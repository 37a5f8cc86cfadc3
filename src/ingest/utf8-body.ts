// The bytes of a request body: strict UTF-8 decoding, line counts, and the byte ranges of a JSON array's elements,
// so that bytes that are not UTF-8 can be refused where they stand instead of read as U+FFFD.

import { isAscii } from "node:buffer";
import { truncate } from "../domain/value.js";

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder("utf-8");

/** The text the bytes encode, or null when they are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  // Nearly every body is ASCII, which Node turns into a string many times faster as ASCII than as UTF-8.
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("ascii");
  try {
    return strict.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Lines in a body, counted as an editor numbers them (a last line without its newline counts), up to `max + 1`:
 * counting stops there, so that a body of millions of tiny lines costs no more to refuse than one at the limit.
 */
export function lineCount(body: string | Uint8Array, max = Number.POSITIVE_INFINITY): number {
  // indexOf finds each newline natively, many bytes at a time: a JavaScript loop would look at every byte.
  const text = typeof body === "string" ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let count = 0;
  let from = 0;
  for (let at = text.indexOf("\n", from); at >= 0 && count <= max; at = text.indexOf("\n", from)) {
    count++;
    from = at + 1;
  }
  return count <= max && from < text.length ? count + 1 : count;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * The byte ranges of a top-level JSON array's elements, or null when the body is not an array. Only ASCII bytes
 * shape JSON, so bytes that are not UTF-8 (all ≥ 0x80) cannot move a boundary; an element's own syntax is checked
 * when it is parsed. Stops after `max + 1` elements, so that an array too long to take costs no more to refuse.
 */
export function splitJsonArray(bytes: Uint8Array, max = Number.POSITIVE_INFINITY): Uint8Array[] | null {
  let i = 0;
  const skip = () => {
    while (i < bytes.length && WHITESPACE.has(bytes[i] as number)) i++;
  };
  skip();
  if (bytes[i] !== 0x5b) return null;
  i++;
  skip();
  const elements: Uint8Array[] = [];
  if (bytes[i] === 0x5d) return trailingOnly(bytes, i + 1) ? elements : null;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let depth = 0;
  let start = i;
  for (; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b === 0x22) i = stringEnd(buffer, i);
    else if (b === 0x7b || b === 0x5b) depth++;
    else if ((b === 0x7d || b === 0x5d) && depth > 0) depth--;
    else if (depth === 0 && (b === 0x2c || b === 0x5d)) {
      elements.push(bytes.subarray(start, i));
      if (b === 0x5d) return trailingOnly(bytes, i + 1) ? elements : null;
      if (elements.length > max) return elements;
      start = i + 1;
    }
  }
  return null;
}

/** The index of the quote that closes the string opening at `open` (the length when there is none). */
function stringEnd(buffer: Buffer, open: number): number {
  let at = buffer.indexOf(0x22, open + 1);
  for (; at !== -1; at = buffer.indexOf(0x22, at + 1)) {
    let backslashes = 0;
    while (buffer[at - 1 - backslashes] === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return buffer.length;
}

function trailingOnly(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (!WHITESPACE.has(bytes[i] as number)) return false;
  return true;
}

/** The text with each byte sequence that is not UTF-8 read as U+FFFD: only to say what was wrong with it. */
export function decodeLeniently(bytes: Uint8Array): string {
  return lenient.decode(bytes);
}

/**
 * The field of leniently decoded JSON that held bytes that are not UTF-8: the first key or string with U+FFFD (a
 * U+FFFD sent as such could be named instead; the event is refused all the same).
 */
export function fieldWithReplacement(json: unknown): string | null {
  return findReplacement(json, "", 0);
}

function findReplacement(json: unknown, path: string, depth: number): string | null {
  if (typeof json !== "object" || json === null || depth > 3) return null;
  for (const [key, value] of Object.entries(json)) {
    const name = path === "" ? key : `${path}.${key}`;
    if (key.includes("\uFFFD")) return truncate(name);
    if (typeof value === "string" && value.includes("\uFFFD")) return truncate(name);
    const inner = findReplacement(value, name, depth + 1);
    if (inner !== null) return inner;
  }
  return null;
}
