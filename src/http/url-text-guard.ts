// Every URL's path segments and query parameters must decode to text without control characters: a NUL or a
// byte that is not UTF-8 would otherwise reach a store that refuses it (a 5xx) or match what it should not.

import type { MiddlewareHandler } from "hono";
import { AppError } from "../domain/errors.js";
import { codePoint } from "../domain/text.js";

const CONTROL = /\p{Cc}/u;

export function urlTextGuard(): MiddlewareHandler {
  return async (c, next) => {
    const url = c.req.url;
    const queryAt = url.indexOf("?");
    const pathEnd = queryAt === -1 ? url.length : queryAt;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2), pathEnd);
    for (const segment of path.split("/")) check(segment, "the path");
    if (queryAt !== -1) {
      for (const pair of url.slice(queryAt + 1).split("&")) {
        const eq = pair.indexOf("=");
        const rawName = eq === -1 ? pair : pair.slice(0, eq);
        const name = check(rawName, "a query parameter name");
        if (eq !== -1) check(pair.slice(eq + 1), `the query parameter ${JSON.stringify(name.slice(0, 40))}`);
      }
    }
    await next();
  };
}

/** The decoded text, or a VALIDATION error naming where it was. */
function check(raw: string, where: string): string {
  let text: string;
  try {
    text = decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    throw new AppError("VALIDATION", `${where} is not valid percent-encoded UTF-8`);
  }
  const control = CONTROL.exec(text);
  if (control) throw new AppError("VALIDATION", `${where} holds ${codePoint(control[0])}, a control character`);
  return text;
}
