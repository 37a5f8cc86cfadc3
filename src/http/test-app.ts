// For route tests: the app over an in-memory SQLite backend, with a token of each role, answering without a port.

import { createToken } from "../auth/create-token.js";
import type { Backend } from "../backend/backend.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createLogger } from "../log/logger.js";
import { createApp } from "./app.js";

export interface TestApp {
  readonly backend: Backend;
  readonly app: ReturnType<typeof createApp>;
  /** A secret for each of admin, read, ingest (limited to `ingestServers` when given) and account (`account`). */
  readonly tokens: Readonly<Record<"admin" | "read" | "ingest" | "account", string>>;
}

export async function openTestApp(
  options: { account?: string; ingestServers?: readonly string[] } = {},
): Promise<TestApp> {
  const backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 64 });
  const token = async (role: "admin" | "read" | "ingest" | "account") =>
    (
      await createToken(backend.tokens, {
        role,
        account: role === "account" ? (options.account ?? "A") : null,
        servers: role === "ingest" && options.ingestServers ? [...options.ingestServers] : null,
        note: "",
      })
    ).secret;
  const tokens = {
    admin: await token("admin"),
    read: await token("read"),
    ingest: await token("ingest"),
    account: await token("account"),
  };
  const app = createApp({
    backend,
    logger: createLogger("silent"),
    maxBodyBytes: 4096,
    localReads: false,
    maxQueryDays: 366,
  });
  return { backend, app, tokens };
}
