// The one place that reads the environment: command-line flags win over TALLY_* variables, which win over defaults.

import path from "node:path";
import { z } from "zod";
import { AppError } from "../domain/errors.js";
import { LIMITS } from "../domain/event.js";
import { exportThreads } from "../records/export-pool.js";
import { DEFAULT_MEMORY_MIB, MAX_MEMORY_MIB, MIN_MEMORY_MIB } from "../store/sqlite/memory-budget.js";
import { DEFAULT_RESELLER_PREFIX } from "../swift-stats/resolve-account.js";

const LISTEN = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  "1": true,
  "0": false,
  yes: true,
  no: false,
  on: true,
  off: false,
};

/** A server timeout; Node's timers cannot hold much more than 24 days. */
const seconds = z.coerce.number().int().min(1, "must be at least 1").max(86_400, "must be at most 86400");

const schema = z.object({
  listen: z
    .string()
    .regex(LISTEN, "must be HOST:PORT, like 127.0.0.1:8124")
    .refine((v) => Number(v.slice(v.lastIndexOf(":") + 1)) <= 65535, "has a port above 65535"),
  data: z.string().min(1, "must name a directory"),
  store: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, "must be sqlite:PATH or postgres://…")
    .optional(),
  maxBodyBytes: z.coerce
    .number()
    .int()
    .min(1024, "must be at least 1024")
    .default(16 * 1024 * 1024),
  /** Lines or array elements in one POST /v1/events. */
  maxBatchEvents: z.coerce.number().int().min(1, "must be at least 1").default(LIMITS.batchEvents),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Reads without a token while listening on loopback only (the Tahoe local web page); serve refuses it elsewhere. */
  localReads: z
    .preprocess((v) => (typeof v === "string" ? (BOOLEAN_WORDS[v] ?? v) : v), z.boolean("must be true or false"))
    .default(true),
  /** The longest range the swift-stats queries answer, in days. */
  maxQueryDays: z.coerce.number().int().min(1, "must be at least 1").max(36_600, "must be at most 36600").default(366),
  /** The Swift reseller prefix a swift-stats account_id may lack (AUTH_x asked as x); empty turns that off. */
  swiftResellerPrefix: z
    .string()
    .max(64, "must be at most 64 characters")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused here
    .regex(/^[^\s\u0000-\u001f\u007f]*$/, "must not contain spaces or control characters")
    .default(DEFAULT_RESELLER_PREFIX),
  /** The usage table marks a server stale when it has sent nothing for this long. */
  staleAfterSeconds: z.coerce.number().int().min(1, "must be at least 1").default(900),
  /**
   * The longest a client may take to send a whole request, body included: a full 16 MiB body needs a little over
   * 1 Mbit/s. Handling it afterwards is not counted.
   */
  requestTimeoutSeconds: seconds.default(120),
  /** The longest a client may take to send a request's headers, which are small but for a long usage query. */
  headersTimeoutSeconds: seconds.default(10),
  /** How long an idle connection is kept for its next request. */
  keepAliveTimeoutSeconds: seconds.default(5),
  /** The base of the subscription URLs this node prints: how subscribers reach it (behind a proxy, say). */
  publicUrl: z
    .string()
    .regex(/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/, "must be an http or https URL, like https://tally.example.org")
    .optional(),
  /** Connections beyond this many are closed as they arrive. */
  maxConnections: z.coerce.number().int().min(1, "must be at least 1").default(1024),
  /** Threads a StAR export makes its records on: at 1 the main thread, above that many workers (export-pool.ts). */
  exportThreads: z.coerce
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(64, "must be at most 64")
    .default(() => exportThreads()),
  /** The StAR records configuration file: identities of accounts, places of servers (src/records/star-config.ts). */
  starConfig: z.string().min(1, "must name a file").optional(),
  /** The SQLite server's memory budget in MiB, shared out among its caches (src/store/sqlite/memory-budget.ts). */
  memoryMb: z.coerce
    .number()
    .int("must be a whole number of MiB")
    .min(MIN_MEMORY_MIB, `must be at least ${MIN_MEMORY_MIB}`)
    .max(MAX_MEMORY_MIB, `must be at most ${MAX_MEMORY_MIB}`)
    .default(DEFAULT_MEMORY_MIB),
});

/** Node refuses a headers timeout above the request timeout; an equal one would make it meaningless. */
const checked = schema.refine((c) => c.headersTimeoutSeconds < c.requestTimeoutSeconds, {
  path: ["headersTimeoutSeconds"],
  message: "must be less than the request timeout (TALLY_REQUEST_TIMEOUT_SECONDS)",
});

export type Config = z.infer<typeof schema> & { readonly host: string; readonly port: number };

export interface ConfigFlags {
  readonly listen?: string | undefined;
  readonly data?: string | undefined;
  readonly store?: string | undefined;
  readonly localReads?: boolean | undefined;
  readonly staleAfterSeconds?: string | number | undefined;
  readonly starConfig?: string | undefined;
  readonly publicUrl?: string | undefined;
  /** --memory MiB. */
  readonly memory?: string | number | undefined;
}

/** `defaults` replace the built-in defaults (the demo's shorter stale interval), never flags or variables. */
export function loadConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv = process.env,
  defaults: { readonly staleAfterSeconds?: number } = {},
): Config {
  const parsed = checked.safeParse({
    listen: flags.listen ?? env.TALLY_LISTEN ?? "127.0.0.1:8124",
    data: flags.data ?? env.TALLY_DATA ?? "./tally-data",
    store: flags.store ?? (env.TALLY_STORE || undefined),
    maxBodyBytes: env.TALLY_MAX_BODY_BYTES,
    maxBatchEvents: env.TALLY_MAX_BATCH_EVENTS || undefined,
    logLevel: env.TALLY_LOG_LEVEL,
    localReads: flags.localReads ?? (env.TALLY_LOCAL_READS?.toLowerCase() || undefined),
    maxQueryDays: env.TALLY_MAX_QUERY_DAYS || undefined,
    // Set but empty means no prefix, not the default.
    swiftResellerPrefix: env.TALLY_SWIFT_RESELLER_PREFIX,
    staleAfterSeconds: flags.staleAfterSeconds ?? (env.TALLY_STALE_AFTER_SECONDS || defaults.staleAfterSeconds),
    requestTimeoutSeconds: env.TALLY_REQUEST_TIMEOUT_SECONDS || undefined,
    headersTimeoutSeconds: env.TALLY_HEADERS_TIMEOUT_SECONDS || undefined,
    keepAliveTimeoutSeconds: env.TALLY_KEEP_ALIVE_TIMEOUT_SECONDS || undefined,
    maxConnections: env.TALLY_MAX_CONNECTIONS || undefined,
    starConfig: flags.starConfig ?? (env.TALLY_STAR_CONFIG || undefined),
    exportThreads: env.TALLY_EXPORT_THREADS || undefined,
    publicUrl: flags.publicUrl ?? (env.TALLY_PUBLIC_URL || undefined),
    memoryMb: flags.memory ?? (env.TALLY_MEMORY_MB || undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? "configuration");
    throw new AppError(
      "VALIDATION",
      `--${flagName(name)} (or TALLY_${envName(name)}) ${issue?.message ?? "is invalid"}`,
    );
  }
  const c = parsed.data;
  const colon = c.listen.lastIndexOf(":");
  const host = c.listen.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return { ...c, data: path.resolve(c.data), host, port: Number(c.listen.slice(colon + 1)) };
}

/** Flags not named after their setting. */
const FLAG_NAMES: Readonly<Record<string, string>> = { memoryMb: "memory", staleAfterSeconds: "stale-after" };

function flagName(name: string): string {
  const named = FLAG_NAMES[name];
  if (named !== undefined) return named;
  return name.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);
}

function envName(name: string): string {
  return name.replace(/[A-Z]/g, (ch) => `_${ch}`).toUpperCase();
}

/** The JetStream options of `tally serve --consume` and `tally ingest --to`, as flags give them. */
export interface BrokerFlags {
  readonly consume?: readonly string[] | undefined;
  readonly stream?: string | undefined;
  readonly subjectPrefix?: string | undefined;
  readonly durable?: string | undefined;
  readonly batch?: string | undefined;
}

/** The same, flags over variables; unset where neither says (the broker code has the defaults and checks them). */
export interface BrokerConfig {
  /** One entry per broker, each a URL or a cluster's URLs joined by commas. */
  readonly consume: readonly string[];
  readonly stream: string | undefined;
  readonly subjectPrefix: string | undefined;
  readonly durable: string | undefined;
  readonly batch: string | undefined;
}

/**
 * Flags win over TALLY_CONSUME (brokers separated by white space, as --consume is repeated), TALLY_STREAM,
 * TALLY_SUBJECT_PREFIX, TALLY_DURABLE and TALLY_BATCH. An empty variable counts as unset.
 */
export function loadBrokerConfig(flags: BrokerFlags, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const consume =
    flags.consume && flags.consume.length > 0
      ? flags.consume
      : (env.TALLY_CONSUME ?? "").split(/\s+/).filter((url) => url !== "");
  return {
    consume,
    stream: flags.stream ?? (env.TALLY_STREAM || undefined),
    subjectPrefix: flags.subjectPrefix ?? (env.TALLY_SUBJECT_PREFIX || undefined),
    durable: flags.durable ?? (env.TALLY_DURABLE || undefined),
    batch: flags.batch ?? (env.TALLY_BATCH || undefined),
  };
}
