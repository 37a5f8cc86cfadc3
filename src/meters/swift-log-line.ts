// One line of an OpenStack Swift proxy access log: what it says about a request, or why it says nothing we count.
// The line is read as latin1 text (one character per byte), so that offsets stay byte offsets and no decoding cost
// is paid for the fields that are never looked at.

import { nameTextProblem } from "../domain/text.js";

/** The method slots a request is counted in, in the order of SWIFT_LOG_METRICS' first six. */
export const METHOD_SLOT: Readonly<Record<string, number>> = { GET: 0, PUT: 1, HEAD: 2, POST: 3, DELETE: 4 };
export const OTHER_SLOT = 5;
export const BYTES_IN_SLOT = 6;
export const BYTES_OUT_SLOT = 7;
/** The metric of each slot. */
export const SWIFT_LOG_METRICS = [
  "requests.get",
  "requests.put",
  "requests.head",
  "requests.post",
  "requests.delete",
  "requests.other",
  "bytes.in",
  "bytes.out",
] as const;

/**
 * What a line is. `request`: a client's request, with the hour (epoch ms) its end falls in. `subrequest`: made by
 * the proxy's own middleware (its `source` field is set), already counted in the client's request. `other`: a line
 * of another program (account-server …) or a proxy message that is not an access line. `bad`: a line that should be
 * an access line and is not one, with the reason.
 */
export type SwiftLogLine =
  | {
      kind: "request";
      hour: number;
      /** The account the path names, or null for paths that name none (/auth/v1.0, /info, /healthcheck). */
      account: string | null;
      slot: number;
      bytesIn: number;
      bytesOut: number;
    }
  | { kind: "subrequest" }
  | { kind: "other"; program: string }
  | { kind: "bad"; reason: string };

export interface LineParserOptions {
  /** Syslog tags (program names) whose lines are access lines; lines of other programs are skipped. */
  readonly logNames?: readonly string[];
}

/** The fields an access line has at least: up to `source`; later Swift releases only ever append to them. */
const MIN_FIELDS = 17;
const F_TIME = 2;
const F_METHOD = 3;
const F_PATH = 4;
const F_STATUS = 6;
const F_BYTES_IN = 10;
const F_BYTES_OUT = 11;
const F_SOURCE = 16;

const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

const TAG = /^[A-Za-z][\w.-]*(\[\d+\])?:$/;
const RFC3164_TIME = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d $/;

/** Reused between lines: the start of each field of the line being parsed. */
const starts = new Int32Array(MIN_FIELDS + 2);

/** Parses lines; keeps small caches (hours, accounts) that make a long log cheap. */
export class SwiftLogLineParser {
  private readonly logNames: ReadonlySet<string>;
  private readonly hours = new Map<string, number>();
  private readonly accounts = new Map<string, string | { bad: string } | null>();

  constructor(options: LineParserOptions = {}) {
    this.logNames = new Set(options.logNames ?? ["proxy-server"]);
  }

  /** The answer for a request, reused: it holds until the next call (an object per line costs the collector). */
  private readonly request = {
    kind: "request" as const,
    hour: 0,
    account: null as string | null,
    slot: 0,
    bytesIn: 0,
    bytesOut: 0,
  };

  /**
   * Parses one line: `line` from `start` to `end` (latin1 text, without its newline), so that a line of a larger
   * text is read in place. A request's answer holds until the next call.
   */
  parse(line: string, start = 0, end = line.length): SwiftLogLine {
    let pos = start;
    let tagged = false;
    // Syslog's priority, "<134>".
    if (line.charCodeAt(start) === 60 /* < */) {
      const close = line.indexOf(">", start);
      if (close > start && close < start + 6) pos = close + 1;
    }
    // A syslog file's time and host: "Nov 23 09:42:57 host " or "2026-11-23T09:42:57.123+00:00 host ".
    const c0 = line.charCodeAt(pos);
    if (c0 >= 65 && c0 <= 90 && line.charCodeAt(pos + 3) === 32 && RFC3164_TIME.test(line.slice(pos, pos + 16))) {
      pos = skipToken(line, pos + 16, end);
    } else if (isDigit(c0) && line.charCodeAt(pos + 4) === 45 /* - */ && line.charCodeAt(pos + 10) === 84 /* T */) {
      pos = skipToken(line, skipToken(line, pos, end), end);
    }
    // The program's tag, "proxy-server:" or "proxy-server[123]:".
    const tagEnd = line.indexOf(" ", pos);
    if (tagEnd > pos && tagEnd < end && line.charCodeAt(tagEnd - 1) === 58 /* : */) {
      const tag = line.slice(pos, tagEnd);
      if (TAG.test(tag)) {
        const bracket = tag.indexOf("[");
        const program = tag.slice(0, bracket === -1 ? -1 : bracket);
        if (!this.logNames.has(program)) return { kind: "other", program };
        tagged = true;
        pos = tagEnd + 1;
      }
    }

    // The fields, separated by single spaces: Swift quotes every one, so none holds a space.
    let n = 0;
    starts[n++] = pos;
    while (n <= MIN_FIELDS) {
      const space = line.indexOf(" ", starts[n - 1] as number);
      if (space === -1 || space >= end) break;
      starts[n++] = space + 1;
    }
    // The end of the last field found, as if a space followed it.
    if (n <= MIN_FIELDS) starts[n] = end + 1;

    // A proxy's other messages ("autocreate account …") are not access lines; an untagged line must be one.
    if (
      n < F_TIME + 1 ||
      fieldEnd(F_TIME) - (starts[F_TIME] as number) < 3 ||
      !looksLikeTime(line, starts[F_TIME] as number)
    ) {
      if (tagged) return { kind: "other", program: "proxy-server messages" };
      return { kind: "bad", reason: "is not a Swift proxy access line" };
    }
    if (n < MIN_FIELDS) {
      return { kind: "bad", reason: `has ${n} fields; a Swift proxy access line has at least ${MIN_FIELDS}` };
    }

    const source = starts[F_SOURCE] as number;
    if (fieldEnd(F_SOURCE) - source !== 1 || line.charCodeAt(source) !== 45 /* - */) {
      if (fieldEnd(F_SOURCE) > source) return { kind: "subrequest" };
    }

    const hour = this.hourOf(line, starts[F_TIME] as number, fieldEnd(F_TIME));
    if (hour === null) return this.bad(line, F_TIME, "a time that is not dd/Mon/YYYY/HH/MM/SS");
    const slot = methodSlot(line, starts[F_METHOD] as number, fieldEnd(F_METHOD));
    if (slot === -1) return this.bad(line, F_METHOD, "a method that is not one");
    if (!isStatus(line, starts[F_STATUS] as number, fieldEnd(F_STATUS))) {
      return this.bad(line, F_STATUS, "a status that is not 3 digits");
    }
    const bytesIn = byteCount(line, starts[F_BYTES_IN] as number, fieldEnd(F_BYTES_IN));
    if (bytesIn === -1) return this.bad(line, F_BYTES_IN, "bytes_recvd that is not a count");
    const bytesOut = byteCount(line, starts[F_BYTES_OUT] as number, fieldEnd(F_BYTES_OUT));
    if (bytesOut === -1) return this.bad(line, F_BYTES_OUT, "bytes_sent that is not a count");
    const account = this.accountOf(line, starts[F_PATH] as number, fieldEnd(F_PATH));
    if (account !== null && typeof account !== "string") return { kind: "bad", reason: account.bad };
    const r = this.request;
    r.hour = hour;
    r.account = account;
    r.slot = slot;
    r.bytesIn = bytesIn;
    r.bytesOut = bytesOut;
    return r;
  }

  private bad(line: string, i: number, what: string): SwiftLogLine {
    return { kind: "bad", reason: `has ${what}: ${cut(line.slice(starts[i], fieldEnd(i)))}` };
  }

  /** The start of the hour (epoch ms) of "23/Nov/2026/09/43/02", which is UTC; null when it is not such a time. */
  private hourOf(line: string, start: number, end: number): number | null {
    if (end - start !== 20) return null;
    for (const at of [14, 17]) {
      const c = start + at;
      if (line.charCodeAt(c) !== 47 || !isDigit(line.charCodeAt(c + 1)) || !isDigit(line.charCodeAt(c + 2)))
        return null;
    }
    const key = line.slice(start, start + 14);
    const known = this.hours.get(key);
    if (known !== undefined) return known;
    const m = /^(\d\d)\/([A-Z][a-z]{2})\/(\d{4})\/(\d\d)$/.exec(key);
    if (!m) return null;
    const month = MONTHS[m[2] as string];
    const [day, year, hour] = [Number(m[1]), Number(m[3]), Number(m[4])];
    if (month === undefined || day < 1 || day > 31 || hour > 23) return null;
    const ms = Date.UTC(year, month, day, hour);
    // 31/Feb would roll over into March: refuse it rather than count it in another day.
    if (new Date(ms).getUTCDate() !== day) return null;
    if (this.hours.size >= 10_000) this.hours.clear();
    this.hours.set(key, ms);
    return ms;
  }

  /** The account a quoted path names: /v1/AUTH_x/… → AUTH_x; null for a path that names none. */
  private accountOf(line: string, start: number, end: number): string | { bad: string } | null {
    if (line.charCodeAt(start) !== 47 /* / */) return null;
    const versionEnd = line.indexOf("/", start + 1);
    if (versionEnd === -1 || versionEnd >= end) return null;
    const v = versionEnd - start;
    // "/v1" or "/v1.0"
    if (line.charCodeAt(start + 1) !== 118 || line.charCodeAt(start + 2) !== 49) return null;
    if (v !== 3 && !(v === 5 && line.charCodeAt(start + 3) === 46 && line.charCodeAt(start + 4) === 48)) return null;
    let accountEnd = line.indexOf("/", versionEnd + 1);
    if (accountEnd === -1 || accountEnd > end) accountEnd = end;
    const raw = line.slice(versionEnd + 1, accountEnd);
    const known = this.accounts.get(raw);
    if (known !== undefined) return known;
    const account = decodeAccount(raw);
    if (this.accounts.size >= 100_000) this.accounts.clear();
    this.accounts.set(raw, account);
    return account;
  }
}

/** Where field i ends (the space after it, or the line's end); valid after parse found the fields. */
function fieldEnd(i: number): number {
  return (starts[i + 1] as number) - 1;
}

const METHOD_NAMES = Object.keys(METHOD_SLOT);

function methodSlot(line: string, start: number, end: number): number {
  const length = end - start;
  for (const name of METHOD_NAMES) {
    if (name.length === length && line.startsWith(name, start)) return METHOD_SLOT[name] as number;
  }
  if (length < 1 || length > 32) return -1;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || c === 95 || c === 45) || (i === start && (c === 95 || c === 45))) return -1;
  }
  return OTHER_SLOT;
}

function isStatus(line: string, start: number, end: number): boolean {
  return (
    end - start === 3 &&
    isDigit(line.charCodeAt(start)) &&
    isDigit(line.charCodeAt(start + 1)) &&
    isDigit(line.charCodeAt(start + 2))
  );
}

/** "-" is Swift's zero; anything else must be digits (up to 15: exact as a number). -1 when it is neither. */
function byteCount(line: string, start: number, end: number): number {
  if (end - start === 1 && line.charCodeAt(start) === 45) return 0;
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** An account segment as Swift quoted it, with the query string the proxy logs inside the path cut off. */
function decodeAccount(raw: string): string | { bad: string } | null {
  let text: string;
  try {
    // The line was read as latin1: undo that before reading the escapes as UTF-8.
    text = decodeURIComponent(Buffer.from(raw, "latin1").toString("utf8"));
  } catch {
    return { bad: `has an account that is not quoted UTF-8: ${cut(raw)}` };
  }
  if (text.includes("\uFFFD") && !raw.includes("%EF%BF%BD")) {
    return { bad: `has an account that is not UTF-8: ${cut(raw)}` };
  }
  const query = text.indexOf("?");
  const account = query === -1 ? text : text.slice(0, query);
  if (account === "") return null;
  if (Buffer.byteLength(account) > 256) return { bad: "has an account longer than 256 bytes" };
  const problem = nameTextProblem(account);
  if (problem !== null) return { bad: `has an account that ${problem}` };
  return account;
}

function looksLikeTime(line: string, at: number): boolean {
  return isDigit(line.charCodeAt(at)) && isDigit(line.charCodeAt(at + 1)) && line.charCodeAt(at + 2) === 47 /* / */;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function skipToken(line: string, pos: number, end: number): number {
  const space = line.indexOf(" ", pos);
  return space === -1 || space >= end ? end : space + 1;
}

function cut(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
