// Petnames and invitations over HTTP: PUT/GET/DELETE /v1/petnames/<account>, POST /v1/invitations[/accept].

import type { Context, Hono } from "hono";
import { canReadAccount } from "../../auth/principal.js";
import { tokenJson } from "../../auth/token.js";
import { AppError, validation } from "../../domain/errors.js";
import { isoTime } from "../../domain/time.js";
import { acceptInvitation } from "../../petnames/accept-invitation.js";
import {
  createInvitation,
  importPetnames,
  parseDuration,
  removePetname,
  setPetname,
  validateAccount,
} from "../../petnames/petname.js";
import type { AppDeps } from "../deps.js";
import { principalOf } from "./usage.js";

const MAX_BODY = 16 * 1024;

/** Writes need an admin; without the auth middleware (no principal) the node is open, as for every route. */
function requireAdmin(c: Context): void {
  const principal = principalOf(c);
  if (principal && principal.role !== "admin")
    throw new AppError("FORBIDDEN", "only an admin token may change petnames");
}

/** A JSON object body of at most `limit` bytes; an empty body is {}. */
export async function jsonBody(c: Context, limit = MAX_BODY): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (Buffer.byteLength(text) > limit) throw new AppError("TOO_LARGE", `the body is larger than ${limit} bytes`);
  if (text.trim() === "") return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw validation(`the body is not valid JSON: ${(error as Error).message}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw validation("the body must be a JSON object");
  return json as Record<string, unknown>;
}

export function petnameRoutes(app: Hono, deps: AppDeps): void {
  const store = deps.backend.petnames;

  // Body: {"ACCOUNT": "NAME", …}: sets them all, or (one bad entry) none. What `tally petname import --url` sends.
  app.patch("/v1/petnames", async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c, deps.maxBodyBytes);
    const count = await importPetnames(store, JSON.stringify(body));
    return c.json({ set: count });
  });

  app.get("/v1/petnames/:account{.+}", async (c) => {
    const account = validateAccount(c.req.param("account"));
    const principal = principalOf(c);
    if (principal && !canReadAccount(principal, account))
      throw new AppError("FORBIDDEN", "this token may not read that account");
    const name = (await store.get([account])).get(account);
    if (name === undefined) throw new AppError("NOT_FOUND", `account "${account.slice(0, 80)}" has no petname`);
    return c.json({ account, petname: name });
  });

  // Body: {"petname": "NAME"} (or {"name": …}).
  app.put("/v1/petnames/:account{.+}", async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c);
    const saved = await setPetname(store, c.req.param("account"), body.petname ?? body.name);
    return c.json({ account: saved.account, petname: saved.name });
  });

  app.delete("/v1/petnames/:account{.+}", async (c) => {
    requireAdmin(c);
    const account = c.req.param("account");
    await removePetname(store, account);
    return c.json({ account, removed: true });
  });

  // Body: {"petname": "NAME", "account": "AUTH_x", "expires_in": "7d"}; answers with the one-time code, shown
  // only here. Without an account, accepting names a new one.
  app.post("/v1/invitations", async (c) => {
    requireAdmin(c);
    const body = await jsonBody(c);
    const expires = body.expires_in;
    if (expires !== undefined && typeof expires !== "string" && typeof expires !== "number") {
      throw validation('expires_in must be a duration like "7d" or a number of seconds');
    }
    const ttlMs = expires === undefined ? undefined : parseDuration(String(expires));
    const invitation = await createInvitation(store, body.petname, { account: body.account, ttlMs });
    c.header("Cache-Control", "no-store");
    return c.json(
      {
        code: invitation.code,
        petname: invitation.petname,
        account: invitation.account,
        expires_at: isoTime(invitation.expiresAt),
      },
      201,
    );
  });

  // Body: {"code": "…"}. The code is the credential: whoever holds it may accept it, once, for a token that reads
  // the invitation's account.
  app.post("/v1/invitations/accept", async (c) => {
    const body = await jsonBody(c);
    const accepted = await acceptInvitation(deps.backend, body.code);
    deps.logger.info(
      { tokenId: accepted.token.id, account: accepted.account, by: principalOf(c)?.tokenId ?? null },
      "invitation accepted",
    );
    c.header("Cache-Control", "no-store");
    return c.json(
      {
        account: accepted.account,
        petname: accepted.petname,
        token: tokenJson(accepted.token),
        secret: accepted.secret,
      },
      201,
    );
  });
}

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});
const AUTH_ERRORS = {
  "401": errorResponse("No valid token: none given where one is needed, or an unknown or revoked one."),
  "403": errorResponse("The token's role does not allow this (or names another account)."),
};
const petnameAnswer = {
  description: "The account and its petname.",
  content: {
    "application/json": {
      schema: { type: "object", properties: { account: { type: "string" }, petname: { type: "string" } } },
    },
  },
};
const accountParameter = { name: "account", in: "path", required: true, schema: { type: "string" } };

/** The OpenAPI description of these routes, for /openapi.json. */
export const PETNAME_OPENAPI_PATHS = {
  "/v1/petnames": {
    patch: {
      operationId: "importPetnames",
      summary: "Set many petnames at once, all or none (admin).",
      tags: ["petnames"],
      requestBody: {
        required: true,
        content: { "application/json": { schema: { type: "object", additionalProperties: { type: "string" } } } },
      },
      responses: {
        "200": {
          description: "How many were set.",
          content: { "application/json": { schema: { type: "object", properties: { set: { type: "integer" } } } } },
        },
        "400": errorResponse("An account or name is not valid; nothing was set."),
        "413": errorResponse("The body is over the size limit."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/petnames/{account}": {
    get: {
      operationId: "getPetname",
      summary: "The petname of an account.",
      tags: ["petnames"],
      parameters: [accountParameter],
      responses: { "200": petnameAnswer, "404": errorResponse("The account has no petname."), ...AUTH_ERRORS },
    },
    put: {
      operationId: "setPetname",
      summary: "Name an account (admin). Names are untrusted text, at most 100 characters.",
      tags: ["petnames"],
      parameters: [accountParameter],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["petname"],
              properties: { petname: { type: "string", maxLength: 100 } },
            },
          },
        },
      },
      responses: { "200": petnameAnswer, "400": errorResponse("The name is not valid."), ...AUTH_ERRORS },
    },
    delete: {
      operationId: "removePetname",
      summary: "Remove an account's petname (admin).",
      tags: ["petnames"],
      parameters: [accountParameter],
      responses: {
        "200": {
          description: "Removed.",
          content: {
            "application/json": {
              schema: { type: "object", properties: { account: { type: "string" }, removed: { const: true } } },
            },
          },
        },
        "404": errorResponse("The account has no petname."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/invitations": {
    post: {
      operationId: "createInvitation",
      summary: "Create a one-time invitation code for an existing account, or for a new one when accepted (admin).",
      tags: ["petnames"],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["petname"],
              properties: {
                petname: { type: "string", maxLength: 100 },
                account: {
                  type: "string",
                  description: "The existing account (as events name it) the invitation is for; absent: a new one.",
                  examples: ["AUTH_alice"],
                },
                expires_in: {
                  type: "string",
                  description: "7d (the default), 12h, 30m, or seconds.",
                  examples: ["7d"],
                },
              },
            },
          },
        },
      },
      responses: {
        "201": {
          description: "The code, shown in this answer only.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  code: { type: "string" },
                  petname: { type: "string" },
                  account: { type: ["string", "null"], description: "The account it is for; null: a new one." },
                  expires_at: { type: "string", format: "date-time" },
                },
              },
            },
          },
        },
        "400": errorResponse("The petname, account or expiry is not valid; nothing was created."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/invitations/accept": {
    post: {
      operationId: "acceptInvitation",
      summary:
        "Use an invitation code, once: its account (or a new one) gets the petname, and the caller a token for it.",
      tags: ["petnames"],
      // The code is the credential: no token is needed, and one that is sent must be valid.
      security: [{}, { authToken: [] }, { bearer: [] }],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: { type: "object", required: ["code"], properties: { code: { type: "string" } } },
          },
        },
      },
      responses: {
        "201": {
          description: "The account, its petname, and a token of role account for it whose secret is shown only here.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  account: { type: "string" },
                  petname: { type: "string" },
                  token: { $ref: "#/components/schemas/Token" },
                  secret: { type: "string", examples: ["tly_…"] },
                },
              },
            },
          },
        },
        "404": errorResponse("No invitation has this code."),
        "409": errorResponse("The code was used already, or has expired."),
        ...AUTH_ERRORS,
      },
    },
  },
};
