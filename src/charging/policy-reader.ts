// Reading a YAML policy document by position: each value with the path to it and its line, so that every error
// names where it is; the policy's own sections are read from this in policy.ts.

import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { AppError } from "../domain/errors.js";
import { parseEventTime } from "../domain/time.js";
import { Decimal } from "./decimal.js";
import { UTC, type Zone } from "./zone.js";

/** `from` and `to` below this are seconds, as Aquarium writes them; above, milliseconds (10^11 s is year 5138). */
const SECONDS_BELOW = 100_000_000_000;
/** A local date, or date and time, with no offset: read in the policy's time zone. */
const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/** A place in the document: the node there and the path to it. */
export interface At {
  readonly node: unknown;
  readonly path: string;
  /** The node's own position, or its parent's when it has none (a missing key). */
  readonly offset: number;
}

/** The document's root and a reader of it; a document YAML cannot read is an error naming its line. */
export function readDocument(text: string): { r: Reader; root: At } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    throw new AppError("VALIDATION", `policy line ${line}: ${first.message.split("\n")[0]}`);
  }
  const fail = (at: At, message: string): AppError =>
    new AppError("VALIDATION", `policy line ${lines.linePos(at.offset).line}, ${at.path || "top level"}: ${message}`);
  return { r: new Reader(text, fail), root: { node: doc.contents, path: "", offset: 0 } };
}

export class Reader {
  /** The policy's time zone, set once its `timezone` is read, before any time. */
  zone: Zone = UTC;

  constructor(
    readonly text: string,
    readonly fail: (at: At, message: string) => AppError,
  ) {}

  child(at: At, node: unknown, path: string): At {
    const range = (node as Node | null)?.range;
    return { node, path, offset: range ? range[0] : at.offset };
  }

  /** A mapping's entries in order, with keys as strings; `unwrap` takes Aquarium's `- resource:` items. */
  entries(at: At, what: string): [string, At][] {
    if (!isMap(at.node)) throw this.fail(at, `must be a mapping (${what})`);
    return at.node.items.map((pair) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      const keyAt = this.child(at, pair.key, at.path);
      if (!isScalar(pair.key) || key === "") throw this.fail(keyAt, "keys must be plain names");
      const path = at.path ? `${at.path}.${key}` : key;
      return [
        key,
        { ...this.child(at, pair.value, path), offset: (pair.value as Node | null)?.range?.[0] ?? keyAt.offset },
      ];
    });
  }

  list(at: At): At[] {
    if (at.node === null || at.node === undefined) return [];
    if (!isSeq(at.node)) throw this.fail(at, "must be a list");
    return at.node.items.map((item, i) => this.child(at, item, `${at.path}[${i}]`));
  }

  scalar(at: At): unknown {
    if (!isScalar(at.node)) throw this.fail(at, "must be a single value, not a list or mapping");
    return at.node.value;
  }

  string(at: At): string {
    const v = this.scalar(at);
    if (typeof v !== "string" || v === "") throw this.fail(at, "must be a non-empty string");
    return v;
  }

  name(at: At): string {
    const v = this.scalar(at);
    const s = typeof v === "number" ? String(v) : v;
    if (typeof s !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(s)) {
      throw this.fail(at, "must be a name of letters, digits, _ . - (up to 128)");
    }
    return s;
  }

  boolean(at: At): boolean {
    const v = this.scalar(at);
    if (typeof v !== "boolean") throw this.fail(at, "must be true or false");
    return v;
  }

  integer(at: At, lo: number, hi: number): number {
    const v = this.scalar(at);
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      throw this.fail(at, `must be a whole number from ${lo} to ${hi}`);
    }
    return v;
  }

  /** A number read from its text in the document, so that 0.1 is exactly a tenth. */
  decimal(at: At): Decimal {
    const node = at.node;
    if (!isScalar(node) || !node.range) throw this.fail(at, "must be a decimal number");
    const source = typeof node.value === "string" ? node.value : this.text.slice(node.range[0], node.range[1]).trim();
    try {
      return Decimal.parse(source.replace(/^"(.*)"$|^'(.*)'$/, "$1$2"), "value");
    } catch (error) {
      throw this.fail(at, (error as Error).message);
    }
  }

  /**
   * A time: epoch seconds (small integers) or milliseconds (large ones), an RFC 3339 string, or a local date
   * (2026-11-01) or date and time (2026-11-01T08:00 or 08:00:00) in the policy's time zone.
   */
  time(at: At): number {
    const v = this.scalar(at);
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v) || v < 0)
        throw this.fail(at, "must be epoch seconds or milliseconds, a whole number");
      const ms = v < SECONDS_BELOW ? v * 1000 : v;
      const checked = parseEventTime(ms);
      if (typeof checked === "string") throw this.fail(at, `time ${checked}`);
      return ms;
    }
    const local = typeof v === "string" ? LOCAL_TIME.exec(v) : null;
    if (local) {
      const n = (i: number) => Number(local[i] ?? 0);
      const wall = Date.UTC(n(1), n(2) - 1, n(3), n(4), n(5), n(6));
      const valid = n(1) >= 1970 && new Date(wall).toISOString().startsWith(local[0].slice(0, 10));
      if (!valid || n(4) > 23 || n(5) > 59 || n(6) > 59) {
        throw this.fail(at, `time "${local[0]}" is not a valid local date and time`);
      }
      return this.zone.instant(wall);
    }
    const ms = parseEventTime(v);
    if (typeof ms === "string") throw this.fail(at, `time ${ms}`);
    return ms;
  }

  /** Calls `f` turning any validation error into one at `at`. */
  at<T>(at: At, f: () => T): T {
    try {
      return f();
    } catch (error) {
      if (error instanceof AppError && !error.message.startsWith("policy line")) throw this.fail(at, error.message);
      throw error;
    }
  }

  /** An item of a list: Aquarium writes `- resource:` with the item's keys beside it; `- resource: {…}` and a plain mapping are read too. */
  item(at: At, kind: string): [string, At][] {
    const entries = this.entries(at, `a ${kind}`);
    const own = entries.find(([k]) => k === kind);
    if (!own) return entries;
    if (own[1].node === null || (isScalar(own[1].node) && own[1].node.value === null)) {
      return entries.filter(([k]) => k !== kind);
    }
    if (entries.length > 1) throw this.fail(at, `"${kind}:" holds the item's keys, or sits beside them, not both`);
    return this.entries(own[1], `a ${kind}`);
  }
}
