// Swift proxy access log lines as a real proxy writes them, for the benchmark and the tests: a generator whose lines
// carry known requests, so that what an import counts can be checked against what was written.

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export interface SwiftRequest {
  /** Epoch ms of the request's end. */
  readonly time: number;
  readonly method: string;
  /** The path as the client sent it, before Swift quotes it; a query string is logged inside it. */
  readonly path: string;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly status?: number;
  /** Set for a subrequest of the proxy's own middleware ("VW", "SLO", …). */
  readonly source?: string;
  /** A syslog priority and tag before the line, as Swift sends it over syslog; default "<134>proxy-server: ". */
  readonly prefix?: string;
}

let transaction = 0;

/** One access line, with the 21 fields of Swift 2.30, without its newline. */
export function swiftAccessLine(r: SwiftRequest): string {
  const d = new Date(r.time);
  const pad = (n: number) => String(n).padStart(2, "0");
  const when = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}/${pad(d.getUTCHours())}/${pad(d.getUTCMinutes())}/${pad(d.getUTCSeconds())}`;
  const quoted = encodeURIComponent(r.path).replaceAll("%2F", "/");
  const dash = (n: number | undefined) => (n ? String(n) : "-");
  const tx = `tx${(transaction++).toString(16).padStart(21, "0")}-${Math.floor(r.time / 1000).toString(16)}`;
  const epoch = (r.time / 1000).toFixed(9);
  const fields = [
    r.source ? "-" : "127.0.0.1",
    r.source ? "-" : "127.0.0.1",
    when,
    r.method,
    quoted,
    "HTTP/1.0",
    String(r.status ?? 200),
    "-",
    r.source ? "Swift" : "python-swiftclient-4.1.0",
    r.source ? "-" : "AUTH_tkc1c050b92...",
    dash(r.bytesIn),
    dash(r.bytesOut),
    "-",
    tx,
    "-",
    "0.0123",
    r.source ?? "-",
    "-",
    epoch,
    epoch,
    "0",
  ];
  return `${r.prefix ?? "<134>proxy-server: "}${fields.join(" ")}`;
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Totals {
  /** "account metric" → sum, as the import should count them. */
  readonly sums: Map<string, bigint>;
  requests: number;
}

const METHODS = ["GET", "GET", "GET", "PUT", "HEAD", "HEAD", "DELETE", "POST", "COPY"];

/**
 * `lines` lines of a busy proxy over `hours` hours from `start`: requests of `accounts` accounts, a tenth of them
 * subrequests and one line in fifty from another server, as a shared syslog file has. Returns the text and what an
 * import must count.
 */
export function swiftLogWorkload(options: {
  lines: number;
  accounts: number;
  start: number;
  hours: number;
  seed?: number;
}): { text: string[]; totals: Totals } {
  const random = prng(options.seed ?? 1);
  const totals: Totals = { sums: new Map(), requests: 0 };
  const add = (key: string, n: number) => totals.sums.set(key, (totals.sums.get(key) ?? 0n) + BigInt(n));
  const text: string[] = [];
  const span = options.hours * 3_600_000;
  for (let i = 0; i < options.lines; i++) {
    const time = options.start + Math.floor((i / options.lines) * span);
    const roll = random();
    if (roll < 0.02) {
      text.push(`<134>object-server: 127.0.0.1 - - [23/Nov/2026:09:43:02 +0000] "GET /d1/205/AUTH_a/b/c" 200 10`);
      continue;
    }
    const account = `AUTH_acct${Math.floor(random() * options.accounts)}`;
    const method = METHODS[Math.floor(random() * METHODS.length)] as string;
    const bytesIn = method === "PUT" ? Math.floor(random() * 5_000_000) : 0;
    const bytesOut = method === "GET" ? Math.floor(random() * 2_000_000) : 0;
    const source = roll < 0.12 ? "SLO" : undefined;
    const path = `/v1/${account}/container-${Math.floor(random() * 20)}/object-${i}${method === "GET" && roll > 0.9 ? "?multipart-manifest=get" : ""}`;
    text.push(swiftAccessLine({ time, method, path, bytesIn, bytesOut, ...(source ? { source } : {}) }));
    if (source) continue;
    totals.requests++;
    const metric = ["GET", "PUT", "HEAD", "POST", "DELETE"].includes(method)
      ? `requests.${method.toLowerCase()}`
      : "requests.other";
    add(`${account} ${metric}`, 1);
    if (bytesIn > 0) add(`${account} bytes.in`, bytesIn);
    if (bytesOut > 0) add(`${account} bytes.out`, bytesOut);
  }
  return { text, totals };
}
