// Query strings as the swift-stats seed writes them: pairs separated by `&` or `;`, read from the raw URL
// (URLSearchParams and Hono split on `&` only).

/** The decoded name=value pairs in order; null when a pair is not valid percent-encoded UTF-8. */
export function parseQueryPairs(url: string): [string, string][] | null {
  const q = url.indexOf("?");
  if (q < 0) return [];
  const hash = url.indexOf("#", q);
  const raw = url.slice(q + 1, hash < 0 ? undefined : hash);
  const pairs: [string, string][] = [];
  for (const part of raw.split(/[&;]/)) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = decode(eq < 0 ? "" : part.slice(eq + 1));
    if (name === null || value === null) return null;
    pairs.push([name, value]);
  }
  return pairs;
}

function decode(text: string): string | null {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return null;
  }
}
