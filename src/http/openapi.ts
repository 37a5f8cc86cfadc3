// GET /openapi.json: the OpenAPI 3.1 description of every route; openapi.test.ts checks none is missing.

import type { Hono } from "hono";
import { AUTH_ERRORS, errorResponse, json, ref, type Schema } from "./openapi-schema.js";
import { BACKUP_OPENAPI_PATHS } from "./routes/backup.js";
import { BILL_PAGE_OPENAPI_PATHS } from "./routes/bill-pages.js";
import { CHARGING_OPENAPI_PATHS } from "./routes/charging-openapi.js";
import { FEED_OPENAPI_PATHS } from "./routes/feeds.js";
import { PETNAME_OPENAPI_PATHS } from "./routes/petnames.js";
import { RECORD_OPENAPI_PATHS } from "./routes/records.js";
import { USAGE_OPENAPI_PATHS } from "./routes/usage.js";

const exactInteger = {
  type: "integer",
  minimum: 0,
  description: "An exact integer, written with all its digits even beyond 2^53.",
};

const counters = {
  type: "object",
  required: ["Bytes_In", "Bytes_Out", "DELETE", "GET", "HEAD", "OTHER", "POST", "PUT"],
  properties: Object.fromEntries(
    ["Bytes_In", "Bytes_Out", "DELETE", "GET", "HEAD", "OTHER", "POST", "PUT"].map((k) => [k, exactInteger]),
  ),
};

const space = {
  type: "object",
  required: ["Space", "Container", "Object"],
  properties: {
    Space: { ...exactInteger, description: "Bytes stored at the entry's instant (storage.bytes)." },
    Container: { ...exactInteger, description: "Containers at the entry's instant (storage.containers)." },
    Object: { ...exactInteger, description: "Objects (files) at the entry's instant (storage.files)." },
  },
};

const swiftHeader = {
  type: "object",
  required: ["Account_ID", "Begin Time", "End Time"],
  properties: {
    Account_ID: { type: "string" },
    "Begin Time": { type: "string", examples: ["2012-10-22 08:00:00"] },
    "End Time": { type: "string", examples: ["2012-10-22 10:00:00"] },
  },
};

const hourKey = "^\\d{4}-\\d{2}-\\d{2} \\d{2}:00:00$";

const swiftAnswer = (name: string, data: Schema) => ({
  type: "array",
  description: `[header, data]. With format=xml the same names and values come as <${name}><header>…</header><data>…</data></${name}> (see the README).`,
  prefixItems: [swiftHeader, data],
  minItems: 2,
  maxItems: 2,
});

const SWIFT_ANSWERS: Record<string, Schema> = {
  io_sum: swiftAnswer("io_sum", counters),
  io_detail: swiftAnswer("io_detail", { type: "object", patternProperties: { [hourKey]: counters } }),
  space_detail: swiftAnswer("space_detail", { type: "object", patternProperties: { [hourKey]: space } }),
};

const swiftParameters = [
  ...[
    ["account_id", "X-Account-Id", "The account (tenant)."],
    ["begin_time", "X-Begin-Time", "Start, inclusive: 2012-10-22 08:00:00 (UTC) or RFC 3339."],
    ["end_time", "X-End-Time", "End, exclusive: 2012-10-22 10:00:00 (UTC) or RFC 3339."],
    ["format", "X-Format", "json (default) or xml."],
    [
      "fill",
      "X-Fill",
      "none (default): only hours with data. zero (io_detail): every hour up to now, zeros without traffic. previous (space_detail): every hour up to now, levels carried forward, zeros before the first reading.",
    ],
  ].flatMap(([query, header, description]) => [
    {
      name: query,
      in: "query",
      required: false,
      description: `${description} Or the ${header} header. The query string may separate pairs with ; as well as &.`,
      schema: { type: "string" },
    },
    {
      name: header,
      in: "header",
      required: false,
      description: `${description} Or ${query} in the query string.`,
      schema: { type: "string" },
    },
  ]),
];

/** Which account was answered: account_id may lack the Swift reseller prefix (see the README). */
const swiftAccountHeader = {
  "X-Account-Id": { description: "The account answered, percent-encoded.", schema: { type: "string" } },
};

const swiftResponses = (name: string) => ({
  "200": {
    description: "The answer.",
    headers: swiftAccountHeader,
    content: { ...json(SWIFT_ANSWERS[name] as Schema), "application/xml": { schema: { type: "string" } } },
  },
  "400": errorResponse("A parameter is missing, malformed or contradicts another, or the range is too long."),
  ...AUTH_ERRORS,
});

const swiftOperation = (name: string, summary: string) => ({
  get: {
    operationId: name,
    summary,
    tags: ["swift-stats"],
    parameters: swiftParameters,
    responses: swiftResponses(name),
  },
});

const tokenSchema = {
  type: "object",
  required: ["id", "role", "account", "servers", "note", "createdAt", "revokedAt"],
  properties: {
    id: { type: "string", examples: ["tok_0123456789abcdef"] },
    role: { enum: ["admin", "ingest", "read", "account", "metrics"] },
    account: { type: ["string", "null"], description: "Role account: the one account it may read." },
    servers: {
      type: ["array", "null"],
      items: { type: "string" },
      description: "Role ingest: the servers it may send events for; null for any.",
    },
    note: { type: "string" },
    createdAt: { type: "string", format: "date-time" },
    revokedAt: { type: ["string", "null"], format: "date-time" },
  },
};

/** Every tag an operation uses, declared once so that a viewer can group and explain them. */
const TAGS = [
  { name: "usage", description: "The usage table and each account's page: HTML, JSON or CSV." },
  { name: "petnames", description: "Readable names for accounts, and invitations to set one's own." },
  { name: "ingest", description: "Usage events in, from meters and storage servers." },
  { name: "swift-stats", description: "The queries of the swift-stats API: io_sum, io_detail, space_detail." },
  { name: "tokens", description: "Access tokens and their roles (admin only)." },
  { name: "records", description: "StAR storage accounting records: export, import and summaries." },
  { name: "feeds", description: "Feeds by capability for other nodes, and this node's subscriptions to theirs." },
  { name: "charging", description: "Policies, agreements, bills and credit balances." },
  { name: "operations", description: "Health and this description." },
];

export function openApiDocument(): Schema {
  return {
    openapi: "3.1.0",
    info: {
      title: "Tally",
      version: "0.1.0",
      description:
        "Storage usage accounting. Every route needs a token (X-Auth-Token or Authorization: Bearer), except accepting " +
        "an invitation (its code is the credential), reading a feed (its capability is), and GET routes other than /v1/tokens when Tally listens on " +
        "loopback only with local reads on.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    // Relative, so it names whichever address (or proxy) this document was fetched from: Tally cannot know it.
    servers: [{ url: "/", description: "The Tally that serves this document." }],
    tags: TAGS,
    security: [{ authToken: [] }, { bearer: [] }],
    paths: {
      ...USAGE_OPENAPI_PATHS,
      ...PETNAME_OPENAPI_PATHS,
      ...BACKUP_OPENAPI_PATHS,
      ...RECORD_OPENAPI_PATHS,
      ...FEED_OPENAPI_PATHS,
      ...CHARGING_OPENAPI_PATHS,
      ...BILL_PAGE_OPENAPI_PATHS,
      "/healthz": {
        get: {
          operationId: "health",
          summary: "The process is up and its store answers.",
          tags: ["operations"],
          responses: {
            "200": {
              description: "Healthy.",
              content: json({
                type: "object",
                properties: {
                  status: {
                    enum: ["ok", "degraded"],
                    description: "degraded: the node serves, but something it was asked to do fails (see problems).",
                  },
                  problems: {
                    type: "array",
                    items: { type: "string" },
                    description: "What fails, such as a JetStream broker that cannot be reached; absent when ok.",
                  },
                  store: { type: "string" },
                  log: {
                    type: "object",
                    description: "Log lines dropped because the log could not be written (a full disk, a closed pipe).",
                    properties: { dropped: { type: "integer" } },
                  },
                },
              }),
            },
            "503": errorResponse("The store does not answer."),
            ...AUTH_ERRORS,
          },
        },
      },
      "/metrics": {
        get: {
          operationId: "metrics",
          summary: "Prometheus metrics: events by source and outcome, ingest, store and HTTP latencies, process.",
          description: "For admin, read and metrics tokens. Prometheus text exposition format 0.0.4.",
          tags: ["operations"],
          responses: {
            "200": { description: "The metrics.", content: { "text/plain": { schema: { type: "string" } } } },
            ...AUTH_ERRORS,
          },
        },
      },
      "/openapi.json": {
        get: {
          operationId: "openapi",
          summary: "This description.",
          tags: ["operations"],
          responses: { "200": { description: "OpenAPI 3.1.", content: json({ type: "object" }) }, ...AUTH_ERRORS },
        },
      },
      "/v1/events": {
        post: {
          operationId: "ingestEvents",
          summary: "Store usage events (admin or ingest tokens).",
          description:
            "A JSON array, NDJSON, or a CloudEvents batch. Each event is accepted, a duplicate (same server and id), " +
            "or rejected with a reason. An ingest token limited to some servers has events for other servers " +
            "rejected one by one, with the reason; the others are stored. Text must be UTF-8: a line or element " +
            "with bytes that are not is rejected, naming the field. At most 100,000 lines or elements a request " +
            "(TALLY_MAX_BATCH_EVENTS). A 5xx means nothing from the batch was stored: send it again.",
          tags: ["ingest"],
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { type: "array", items: ref("Event") } },
              "application/x-ndjson": { schema: { type: "string" } },
              "application/cloudevents-batch+json": { schema: { type: "array", items: { type: "object" } } },
              "application/cloudevents+json": { schema: { type: "object" } },
            },
          },
          responses: {
            "200": {
              description: "What became of each event.",
              content: json({
                type: "object",
                required: ["accepted", "duplicates", "rejected"],
                properties: {
                  accepted: { type: "integer" },
                  duplicates: { type: "integer" },
                  rejected: {
                    type: "array",
                    description: "The first 1,000 rejections, in batch order; ids are cut at 256 characters.",
                    items: {
                      type: "object",
                      required: ["index", "reason"],
                      properties: { index: { type: "integer" }, id: { type: "string" }, reason: { type: "string" } },
                    },
                  },
                  rejected_omitted: {
                    type: "integer",
                    description: "Rejections beyond the 1,000 listed; absent when all are listed.",
                  },
                },
              }),
            },
            "400": errorResponse("The body cannot be read at all."),
            "413": errorResponse("The body is over the size limit, or has more lines or elements than allowed."),
            "415": errorResponse("The content type is not one of the accepted ones."),
            ...AUTH_ERRORS,
          },
        },
      },
      "/io_sum": swiftOperation("io_sum", "Requests by method and bytes in and out over a range (swift-stats)."),
      "/io_detail": swiftOperation(
        "io_detail",
        "The io_sum counters hour by hour: hours with traffic, or all with fill=zero.",
      ),
      "/space_detail": swiftOperation("space_detail", "Bytes, containers and objects at each hour's start."),
      "/": {
        get: {
          operationId: "swiftStatsByHeader",
          summary: "The swift-stats query named by X-Query-Method.",
          tags: ["swift-stats"],
          parameters: [
            {
              name: "X-Query-Method",
              in: "header",
              required: true,
              description: "Which query to answer, as swift-stats clients name it.",
              schema: { enum: ["io_sum", "io_detail", "space_detail"] },
            },
            ...swiftParameters,
          ],
          responses: {
            ...swiftResponses("io_sum"),
            "200": {
              description: "The answer of the query named (see /io_sum, /io_detail, /space_detail).",
              headers: swiftAccountHeader,
              content: {
                ...json({ oneOf: Object.values(SWIFT_ANSWERS) }),
                "application/xml": { schema: { type: "string" } },
              },
            },
          },
        },
      },
      "/v1/tokens": {
        get: {
          operationId: "listTokens",
          summary: "Every token, revoked ones too, without secrets (admin).",
          tags: ["tokens"],
          responses: {
            "200": {
              description: "The tokens.",
              content: json({ type: "object", properties: { tokens: { type: "array", items: ref("Token") } } }),
            },
            ...AUTH_ERRORS,
          },
        },
        post: {
          operationId: "createToken",
          summary: "Create a token; the secret is in this answer and nowhere else (admin).",
          tags: ["tokens"],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["role"],
              additionalProperties: false,
              properties: {
                role: { enum: ["admin", "ingest", "read", "account", "metrics"] },
                account: { type: "string", description: "Required for role account, refused for the others." },
                servers: { type: "array", items: { type: "string" }, description: "Role ingest only." },
                note: { type: "string" },
              },
            }),
          },
          responses: {
            "201": {
              description: "The token and its secret.",
              content: json({
                type: "object",
                required: ["token", "secret"],
                properties: { token: ref("Token"), secret: { type: "string", examples: ["tly_…"] } },
              }),
            },
            "400": errorResponse("The body is not a valid token description."),
            ...AUTH_ERRORS,
          },
        },
      },
      "/v1/tokens/{id}": {
        delete: {
          operationId: "revokeToken",
          summary: "Revoke a token; it stops working at once (admin).",
          tags: ["tokens"],
          parameters: [
            { name: "id", in: "path", required: true, description: "The token's id.", schema: { type: "string" } },
          ],
          responses: {
            "200": {
              description: "The token, revoked.",
              content: json({ type: "object", properties: { token: ref("Token") } }),
            },
            "404": errorResponse("No token has this id."),
            ...AUTH_ERRORS,
          },
        },
      },
    },
    components: {
      securitySchemes: {
        authToken: {
          type: "apiKey",
          in: "header",
          name: "X-Auth-Token",
          description: "A token's secret (tly_…), from `tally token create` or POST /v1/tokens.",
        },
        bearer: { type: "http", scheme: "bearer", description: "The same secret as Authorization: Bearer." },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: { code: { type: "string" }, message: { type: "string" } },
            },
          },
        },
        Token: tokenSchema,
        Event: {
          type: "object",
          required: ["id", "server", "time", "account", "metric", "value"],
          properties: {
            id: { type: "string" },
            server: { type: "string" },
            time: { oneOf: [{ type: "string", format: "date-time" }, { type: "integer" }] },
            account: { type: "string" },
            metric: { type: "string", examples: ["storage.bytes", "requests.get", "bytes.in"] },
            value: { oneOf: [{ type: "integer" }, { type: "string", pattern: "^-?[0-9]+$" }] },
            kind: { enum: ["level", "counter", "state"] },
            instance: { type: "string" },
            dims: { type: "object", additionalProperties: { type: "string" } },
          },
        },
      },
    },
  };
}

export function openApiRoutes(app: Hono): void {
  const body = JSON.stringify(openApiDocument());
  app.get("/openapi.json", (c) => c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" }));
}

/** A Hono route path in OpenAPI form: /v1/tokens/:id → /v1/tokens/{id}. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}");
}
