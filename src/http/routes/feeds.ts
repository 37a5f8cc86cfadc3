// Feeds and subscriptions over HTTP: GET /v1/feed/<capability> (the capability is the credential), the admin's
// /v1/feeds (share, list, revoke) and /v1/subscriptions (subscribe, list with health, unsubscribe).

import type { Hono } from "hono";
import { AppError, validation } from "../../domain/errors.js";
import { feedUrl } from "../../feeds/capability.js";
import { DEFAULT_PAGE_EVENTS, feedEventJson, MAX_PAGE_EVENTS, MAX_WAIT_MS, readFeed } from "../../feeds/read-feed.js";
import { feedJson, revokeFeed, shareFeed } from "../../feeds/share-feed.js";
import { subscribe, subscriptionJson, unsubscribe } from "../../feeds/subscribe.js";
import type { AppDeps } from "../deps.js";
import { errorBody } from "../errors.js";
import { jsonBody } from "./petnames.js";

const MAX_BODY = 64 * 1024;

function optional<T>(
  body: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
  what: string,
): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw validation(`${key} must be ${what}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** wait=30s, 30 or 500ms: how long a caught-up reader is held, at most MAX_WAIT_MS. */
export function parseWait(text: string | undefined): number {
  if (text === undefined || text === "") return 0;
  const m = /^(\d{1,6})(ms|s)?$/.exec(text);
  if (!m) throw validation(`wait "${text.slice(0, 20)}" must be seconds like 30s, or milliseconds like 500ms`);
  const ms = Number(m[1]) * (m[2] === "ms" ? 1 : 1000);
  if (ms > MAX_WAIT_MS) throw validation(`wait must be at most ${MAX_WAIT_MS / 1000}s`);
  return ms;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined || text === "") return DEFAULT_PAGE_EVENTS;
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > MAX_PAGE_EVENTS) {
    throw validation(`limit must be an integer from 1 to ${MAX_PAGE_EVENTS}`);
  }
  return Number(text);
}

export function feedRoutes(app: Hono, deps: AppDeps): void {
  const { feeds, eventFeed } = deps.backend;

  app.get("/v1/feed/:capability", async (c) => {
    if (deps.stopping?.aborted) {
      // A subscriber reads again at once on the same connection, which would keep the node from ever stopping.
      const error = new AppError("UNAVAILABLE", "this node is stopping; read again later");
      return c.json(errorBody(error), 503, { Connection: "close" });
    }
    const format = c.req.query("format");
    if (format !== undefined && format !== "json" && format !== "ndjson") {
      throw validation(`format "${format.slice(0, 20)}" must be json or ndjson`);
    }
    const request = {
      capability: c.req.param("capability"),
      after: c.req.query("after") || null,
      limit: parseLimit(c.req.query("limit")),
      waitMs: parseWait(c.req.query("wait")),
    };
    const signals = deps.stopping ? [c.req.raw.signal, deps.stopping] : [c.req.raw.signal];
    const page = await readFeed({ feeds, eventFeed }, request, AbortSignal.any(signals));
    c.header("Cache-Control", "no-store");
    if (deps.stopping?.aborted) c.header("Connection", "close");
    const json = format === "json" || (format === undefined && /application\/json/.test(c.req.header("accept") ?? ""));
    if (json) {
      return c.json({
        events: page.events.map(feedEventJson),
        next: page.next,
        more: page.more,
        remaining: page.remaining,
      });
    }
    // NDJSON: one event a line, the page's cursor and state in headers.
    if (page.next !== null) c.header("Tally-Feed-Next", page.next);
    c.header("Tally-Feed-More", String(page.more));
    c.header("Tally-Feed-Remaining", String(page.remaining));
    c.header("Content-Type", "application/x-ndjson");
    return c.body(page.events.map((e) => `${JSON.stringify(feedEventJson(e))}\n`).join(""));
  });

  app.get("/v1/feeds", async (c) => c.json({ feeds: (await feeds.listFeeds()).map(feedJson) }));

  app.post("/v1/feeds", async (c) => {
    const body = await jsonBody(c, MAX_BODY);
    for (const key of Object.keys(body)) {
      if (!["note", "servers", "relay"].includes(key))
        throw validation(`unknown field ${key}: a feed takes note, servers and relay`);
    }
    const { feed, capability } = await shareFeed(feeds, {
      note: optional(body, "note", isString, "a string"),
      servers: optional(body, "servers", isStrings, "an array of server names"),
      relay: optional(body, "relay", isBoolean, "true or false"),
    });
    deps.logger.info({ feedId: feed.id, by: c.get("principal")?.tokenId }, "feed shared");
    c.header("Cache-Control", "no-store");
    const base = deps.publicUrl ?? new URL(c.req.url).origin;
    return c.json({ feed: feedJson(feed), capability, url: feedUrl(base, capability) }, 201);
  });

  app.delete("/v1/feeds/:id", async (c) => {
    const feed = await revokeFeed(feeds, c.req.param("id"));
    deps.logger.info({ feedId: feed.id, by: c.get("principal")?.tokenId }, "feed revoked");
    return c.json({ feed: feedJson(feed) });
  });

  app.get("/v1/subscriptions", async (c) => {
    const now = Date.now();
    return c.json({ subscriptions: (await feeds.listSubscriptions()).map((s) => subscriptionJson(s, now)) });
  });

  app.post("/v1/subscriptions", async (c) => {
    const body = await jsonBody(c, MAX_BODY);
    const url = optional(body, "url", isString, "a string");
    if (url === undefined) throw validation("url is required: the feed URL that tally feed share printed");
    const created = await subscribe(feeds, { url, name: optional(body, "name", isString, "a string") });
    await deps.subscriptionsChanged?.();
    deps.logger.info({ subscription: created.name, by: c.get("principal")?.tokenId }, "subscribed");
    return c.json({ subscription: subscriptionJson(created) }, 201);
  });

  app.delete("/v1/subscriptions/:name", async (c) => {
    const removed = await unsubscribe(feeds, c.req.param("name"));
    await deps.subscriptionsChanged?.();
    deps.logger.info({ subscription: removed.name, by: c.get("principal")?.tokenId }, "unsubscribed");
    return c.json({ subscription: subscriptionJson(removed) });
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
const jsonAnswer = (description: string, schema: Record<string, unknown>) => ({
  description,
  content: { "application/json": { schema } },
});
const feedSchema = {
  type: "object",
  required: ["id", "note", "servers", "carries", "createdAt", "revokedAt"],
  properties: {
    id: { type: "string", examples: ["feed_0123456789abcdef"] },
    note: { type: "string" },
    servers: { type: ["array", "null"], items: { type: "string" }, description: "Only these servers; null for all." },
    carries: { enum: ["origin", "origin and relayed"] },
    createdAt: { type: "string", format: "date-time" },
    revokedAt: { type: ["string", "null"], format: "date-time" },
  },
};
const subscriptionSchema = {
  type: "object",
  required: ["name", "url", "state", "lastError", "lagEvents", "lagSeconds", "lastSuccess", "createdAt"],
  properties: {
    name: { type: "string" },
    url: { type: "string", description: "The feed URL with its capability hidden (tfc_…)." },
    state: { enum: ["new", "catching-up", "live", "failing"] },
    lastError: { type: ["string", "null"] },
    lagEvents: { type: ["integer", "null"], description: "Events the feed had after this node's cursor (at most)." },
    lagSeconds: { type: "integer", description: "Seconds since this node last had everything the feed had." },
    lastSuccess: { type: ["string", "null"], format: "date-time" },
    createdAt: { type: "string", format: "date-time" },
  },
};
const feedEvent = {
  type: "object",
  required: ["id", "server", "time", "account", "metric", "kind", "value"],
  properties: {
    id: { type: "string" },
    server: { type: "string" },
    time: { type: "string", format: "date-time" },
    account: { type: "string" },
    metric: { type: "string" },
    kind: { enum: ["level", "counter", "state"] },
    value: { type: "string", description: "A decimal integer, exact beyond 2^53." },
    instance: { type: "string" },
    dims: { type: "object", additionalProperties: { type: "string" } },
  },
};
const query = (name: string, description: string) => ({
  name,
  in: "query",
  required: false,
  description,
  schema: { type: "string" },
});

/** The OpenAPI description of these routes, for /openapi.json. */
export const FEED_OPENAPI_PATHS = {
  "/v1/feed/{capability}": {
    get: {
      operationId: "readFeed",
      summary:
        "Events this node stored, in the order it stored them, after a cursor; the capability is the credential.",
      tags: ["feeds"],
      security: [{}],
      parameters: [
        { name: "capability", in: "path", required: true, schema: { type: "string", pattern: "^tfc_" } },
        query("after", "The cursor of the previous page (its next); none for the first event."),
        query("limit", "Events in the page, 1 to 10000 (default 1000)."),
        query("wait", "When nothing is new, wait this long for events before answering: 30s, 500ms; at most 60s."),
        query("format", "json or ndjson; otherwise JSON when Accept asks for it, else NDJSON."),
      ],
      responses: {
        "200": {
          description:
            "A page. NDJSON: one event a line, the cursor in Tally-Feed-Next, Tally-Feed-More and Tally-Feed-Remaining.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                required: ["events", "next", "more", "remaining"],
                properties: {
                  events: { type: "array", items: feedEvent },
                  next: { type: ["string", "null"], description: "The cursor for the next page." },
                  more: { type: "boolean", description: "Whether more events can be read at once." },
                  remaining: { type: "integer", description: "Events stored after next, before the feed's filter." },
                },
              },
            },
            "application/x-ndjson": { schema: { type: "string" } },
          },
        },
        "400": errorResponse("A parameter is not valid."),
        "404": errorResponse("No feed has this capability (unknown or revoked)."),
        "503": errorResponse("The node is stopping or its store is unavailable; read again later."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/feeds": {
    get: {
      operationId: "listFeeds",
      summary: "The feeds this node shares, without their capabilities (admin).",
      tags: ["feeds"],
      responses: {
        "200": jsonAnswer("Every feed, revoked ones too.", {
          type: "object",
          properties: { feeds: { type: "array", items: feedSchema } },
        }),
        ...AUTH_ERRORS,
      },
    },
    post: {
      operationId: "shareFeed",
      summary: "Share a feed: a new capability and its subscription URL, shown once (admin).",
      tags: ["feeds"],
      requestBody: {
        required: false,
        content: {
          "application/json": {
            schema: {
              type: "object",
              additionalProperties: false,
              properties: {
                note: { type: "string" },
                servers: { type: "array", items: { type: "string" } },
                relay: { type: "boolean", description: "Also the events received from subscriptions." },
              },
            },
          },
        },
      },
      responses: {
        "201": jsonAnswer("The feed, its capability and its URL.", {
          type: "object",
          properties: { feed: feedSchema, capability: { type: "string" }, url: { type: "string" } },
        }),
        "400": errorResponse("A field is not valid."),
        "413": errorResponse("The body is over the size limit."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/feeds/{id}": {
    delete: {
      operationId: "revokeFeed",
      summary: "Revoke a feed: its URL stops answering at once (admin).",
      tags: ["feeds"],
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        "200": jsonAnswer("The revoked feed.", { type: "object", properties: { feed: feedSchema } }),
        "404": errorResponse("There is no such feed."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/subscriptions": {
    get: {
      operationId: "listSubscriptions",
      summary: "The feeds this node pulls, with their health (admin).",
      tags: ["feeds"],
      responses: {
        "200": jsonAnswer("Every subscription, by name.", {
          type: "object",
          properties: { subscriptions: { type: "array", items: subscriptionSchema } },
        }),
        ...AUTH_ERRORS,
      },
    },
    post: {
      operationId: "subscribe",
      summary: "Pull another node's feed into this node, continuously (admin).",
      tags: ["feeds"],
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              required: ["url"],
              properties: { url: { type: "string" }, name: { type: "string" } },
            },
          },
        },
      },
      responses: {
        "201": jsonAnswer("The new subscription.", {
          type: "object",
          properties: { subscription: subscriptionSchema },
        }),
        "400": errorResponse("The URL or name is not valid."),
        "409": errorResponse("The name is taken, or this node already pulls that feed."),
        ...AUTH_ERRORS,
      },
    },
  },
  "/v1/subscriptions/{name}": {
    delete: {
      operationId: "unsubscribe",
      summary: "Stop pulling a feed; the events it brought stay (admin).",
      tags: ["feeds"],
      parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        "200": jsonAnswer("The removed subscription.", {
          type: "object",
          properties: { subscription: subscriptionSchema },
        }),
        "404": errorResponse("There is no such subscription."),
        ...AUTH_ERRORS,
      },
    },
  },
};
