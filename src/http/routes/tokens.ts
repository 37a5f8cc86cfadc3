// /v1/tokens: list, create and revoke API tokens (admin only, by the access rules). A secret is shown once.

import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import { createToken } from "../../auth/create-token.js";
import { revokeToken } from "../../auth/revoke-token.js";
import { ROLES, tokenJson } from "../../auth/token.js";
import { AppError, validation } from "../../domain/errors.js";
import type { AppDeps } from "../deps.js";

const MAX_BODY_BYTES = 64 * 1024;

const createBody = z.strictObject({
  role: z.enum(ROLES as ["admin", "ingest", "read", "account", "metrics"], `must be one of ${ROLES.join(", ")}`),
  account: z.string().nullish(),
  servers: z.array(z.string()).nullish(),
  note: z.string().nullish(),
});

export function tokenRoutes(app: Hono, deps: AppDeps): void {
  app.get("/v1/tokens", async (c) => {
    const tokens = await deps.backend.tokens.list();
    return c.json({ tokens: tokens.map(tokenJson) });
  });

  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError("TOO_LARGE", `the body is larger than ${MAX_BODY_BYTES} bytes`);
    },
  });

  app.post("/v1/tokens", limit, async (c) => {
    const text = await c.req.text();
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw validation('the body must be a JSON object like {"role": "read"}');
    }
    const parsed = createBody.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? issue.path.join(".") : "body";
      throw validation(`${where}: ${issue?.message ?? "is invalid"}`);
    }
    const { token, secret } = await createToken(deps.backend.tokens, parsed.data);
    deps.logger.info({ tokenId: token.id, role: token.role, by: c.get("principal").tokenId }, "token created");
    c.header("Cache-Control", "no-store");
    return c.json({ token: tokenJson(token), secret }, 201);
  });

  app.delete("/v1/tokens/:id", async (c) => {
    const token = await revokeToken(deps.backend.tokens, c.req.param("id"));
    deps.logger.info({ tokenId: token.id, by: c.get("principal").tokenId }, "token revoked");
    return c.json({ token: tokenJson(token) });
  });
}
