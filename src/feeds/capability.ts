// Feed capabilities: the unguessable part of a subscription URL, the only credential a feed needs. Only its hash is
// stored, as for API tokens.

import { randomBytes } from "node:crypto";
import { hashSecret } from "../auth/token.js";
import { validation } from "../domain/errors.js";

/** Recognisable in logs and by secret scanners, like API tokens' tly_. */
export const CAPABILITY_PREFIX = "tfc_";
/** 32 random bytes: 256 bits. */
const CAPABILITY_BYTES = 32;
export const FEED_PATH = "/v1/feed/";
const CAPABILITY = /^tfc_[A-Za-z0-9_-]{43}$/;

export function newCapability(): string {
  return CAPABILITY_PREFIX + randomBytes(CAPABILITY_BYTES).toString("base64url");
}

export function newFeedId(): string {
  return `feed_${randomBytes(8).toString("hex")}`;
}

export const hashCapability = hashSecret;

export function isCapability(text: string): boolean {
  return CAPABILITY.test(text);
}

/** The subscription URL of a capability on a node whose public base URL is `base`. */
export function feedUrl(base: string, capability: string): string {
  // Relative to the base, so that a base behind a proxy under a path (https://h/tally) keeps it.
  return new URL(FEED_PATH.slice(1) + capability, base.endsWith("/") ? base : `${base}/`).toString();
}

/** A subscription URL checked: http(s), a feed path with a capability, nothing else. */
export function parseFeedUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw validation(`"${text.slice(0, 80)}" is not a URL; a feed URL looks like http://host:8124${FEED_PATH}tfc_…`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw validation("a feed URL must be http or https");
  if (url.username || url.password) throw validation("a feed URL carries no user or password, only its capability");
  const at = url.pathname.lastIndexOf(FEED_PATH);
  const capability = at < 0 ? "" : url.pathname.slice(at + FEED_PATH.length);
  if (at < 0 || !isCapability(capability)) {
    throw validation(
      `a feed URL ends in ${FEED_PATH} and a capability (tfc_ and 43 characters), as tally feed share prints`,
    );
  }
  if (url.search || url.hash) throw validation("a feed URL has no query or fragment");
  return url;
}

/** The URL without its capability, for lists, pages and logs. */
export function hideCapability(url: string): string {
  return url.replace(/tfc_[A-Za-z0-9_-]+/, "tfc_…");
}
