// POST /v1/events: the HTTP face of ingest.

import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { serverGate } from "../../auth/principal.js";
import { AppError } from "../../domain/errors.js";
import { ingestEvents } from "../../ingest/ingest-events.js";
import { parseEventBody } from "../../ingest/parse-body.js";
import type { AppDeps } from "../deps.js";

export function eventRoutes(app: Hono, deps: AppDeps): void {
  app.post(
    "/v1/events",
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: () => {
        throw new AppError("TOO_LARGE", `the body is larger than the limit of ${deps.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const items = parseEventBody(body, c.req.header("content-type"), deps.maxBatchEvents);
      const gate = serverGate(c.get("principal"));
      return c.json(await ingestEvents(deps.backend.events, items, gate, { source: "http", observer: deps.metrics }));
    },
  );
}
