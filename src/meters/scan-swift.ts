// The space scanner's Swift reading: HEAD each account of a Swift cluster and read its own counters,
// X-Account-Bytes-Used, X-Account-Object-Count and X-Account-Container-Count.

export interface SwiftAccountSpace {
  readonly bytes: bigint;
  readonly objects: bigint;
  readonly containers: bigint;
}

export interface SwiftAuth {
  /** A token for a reseller admin (it may HEAD every account). */
  readonly token?: string;
  /** Or a TempAuth / v1.0 user and key, exchanged for a token at URL/auth/v1.0. */
  readonly user?: string;
  readonly key?: string;
}

const TIMEOUT_MS = 30_000;

/** A token to HEAD accounts with: the one given, or one obtained with the v1.0 user and key. */
export async function swiftToken(url: string, auth: SwiftAuth): Promise<string> {
  if (auth.token) return auth.token;
  if (!auth.user || auth.key === undefined) throw new Error("a Swift token, or a user and key, is needed");
  const response = await fetch(new URL("/auth/v1.0", url), {
    headers: { "X-Auth-User": auth.user, "X-Auth-Key": auth.key },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  await response.arrayBuffer();
  const token = response.headers.get("x-auth-token");
  if (!response.ok || !token) throw new Error(`${url}/auth/v1.0 refused ${auth.user}: HTTP ${response.status}`);
  return token;
}

/** One account's counters; null when Swift has no such account (404). */
export async function headSwiftAccount(url: string, token: string, account: string): Promise<SwiftAccountSpace | null> {
  const target = new URL(`/v1/${encodeURIComponent(account)}`, url);
  const response = await fetch(target, {
    method: "HEAD",
    headers: { "X-Auth-Token": token },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`HEAD ${target.pathname} answered HTTP ${response.status}`);
  return {
    bytes: counter(response.headers, "x-account-bytes-used"),
    objects: counter(response.headers, "x-account-object-count"),
    containers: counter(response.headers, "x-account-container-count"),
  };
}

function counter(headers: Headers, name: string): bigint {
  const text = headers.get(name);
  if (text === null || !/^\d{1,38}$/.test(text)) throw new Error(`the answer's ${name} is ${text ?? "missing"}`);
  return BigInt(text);
}

/** An accounts file: one account per line, # comments. */
export function parseAccountList(text: string): string[] {
  return [
    ...new Set(
      text
        .split("\n")
        .map((l) => l.replace(/#.*/, "").trim())
        .filter((l) => l !== ""),
    ),
  ];
}
