// The JetStream layout Tally publishes to and consumes from: one stream over every server's subject
// (PREFIX.<server>), created when missing, and the message id that lets the broker drop a re-sent event.

import { type JetStreamManager, nanos, RetentionPolicy, StorageType } from "nats";
import { AppError } from "../domain/errors.js";

export interface StreamSettings {
  /** The stream's name (default TALLY_EVENTS). */
  readonly stream: string;
  /** Subjects are PREFIX.<server> (default tally.events). */
  readonly subjectPrefix: string;
}

export const DEFAULT_STREAM = "TALLY_EVENTS";
export const DEFAULT_SUBJECT_PREFIX = "tally.events";
/** How long the stream keeps a message: long enough for a Tally outage to be mended and caught up. */
export const STREAM_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** The window in which the broker drops a message whose id it has seen (JetStream's default). */
export const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function checkStreamSettings(settings: StreamSettings): StreamSettings {
  if (!STREAM_NAME.test(settings.stream))
    throw new AppError(
      "VALIDATION",
      `--stream "${settings.stream}" (or TALLY_STREAM) must be 1 to 64 letters, digits, _ or -`,
    );
  if (!PREFIX.test(settings.subjectPrefix))
    throw new AppError(
      "VALIDATION",
      `--subject-prefix "${settings.subjectPrefix}" (or TALLY_SUBJECT_PREFIX) must be dot-separated words of letters, digits, _ or -`,
    );
  return settings;
}

/**
 * A server name as one subject token. A token may not hold '.', '*', '>' or white space, and a server name may: every
 * byte outside [A-Za-z0-9_-] is written %XX (its UTF-8 bytes), '%' included, so distinct names stay distinct.
 */
export function subjectToken(server: string): string {
  let out = "";
  for (const byte of Buffer.from(server, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export function subjectFor(prefix: string, server: string): string {
  return `${prefix}.${subjectToken(server)}`;
}

/** (server, id) as the Nats-Msg-Id header: each percent-encoded, so that no pair reads as another. */
export function messageId(server: string, id: string): string {
  return `${encodeURIComponent(server)}/${encodeURIComponent(id)}`;
}

/** Creates the stream when it is missing; an existing one is used as it is (its retention is the operator's). */
export async function ensureStream(jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  const subject = `${settings.subjectPrefix}.>`;
  let existing: string[] | null = null;
  try {
    existing = (await jsm.streams.info(settings.stream)).config.subjects ?? [];
  } catch (error) {
    if (!/stream not found/i.test((error as Error).message)) throw error;
  }
  if (existing !== null) {
    if (existing.includes(subject)) return;
    throw new AppError(
      "VALIDATION",
      `the stream ${settings.stream} exists without the subjects ${subject} (it has ${existing.join(", ") || "none"})`,
    );
  }
  await jsm.streams.add({
    name: settings.stream,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(STREAM_MAX_AGE_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
}

/** nats://host:port, or several separated by commas (a cluster), as the client's server list. */
export function brokerServers(url: string): string[] {
  const servers = url.split(",").map((s) => s.trim());
  for (const s of servers) {
    let parsed: URL;
    try {
      parsed = new URL(s);
    } catch {
      throw new AppError("VALIDATION", `"${s}" is not a broker URL: give nats://HOST:PORT`);
    }
    if (parsed.protocol !== "nats:" && parsed.protocol !== "tls:")
      throw new AppError("VALIDATION", `"${s}" is not a broker URL: give nats://HOST:PORT`);
  }
  return servers;
}

/** A broker URL for logs: the host and port, never credentials. */
export function brokerLabel(url: string): string {
  return brokerServers(url)
    .map((s) => {
      const u = new URL(s);
      return `${u.protocol}//${u.host}`;
    })
    .join(",");
}
