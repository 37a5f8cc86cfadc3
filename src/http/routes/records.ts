// StAR records over HTTP: GET /v1/records/star (export), POST /v1/records/star (import), GET /v1/records/summary.

import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { serverGate } from "../../auth/principal.js";
import { AppError } from "../../domain/errors.js";
import { parseExportRequest, renderStarExport, STAR_CONTENT_TYPE } from "../../records/export-request.js";
import { importStarRecords } from "../../records/import-star.js";
import { parseStarDocument } from "../../records/parse-star.js";
import { DEFAULT_STAR_CONFIG } from "../../records/star-config.js";
import { parseSummaryRequest, summarizeRecords, summaryCsv, summaryJson } from "../../records/summarize-records.js";
import type { AppDeps } from "../deps.js";

export function recordRoutes(app: Hono, deps: AppDeps): void {
  app.get("/v1/records/star", async (c) => {
    const request = parseExportRequest(
      {
        from: c.req.query("from"),
        to: c.req.query("to"),
        period: c.req.query("period"),
        capacity: c.req.query("capacity"),
        site: c.req.query("site"),
        format: c.req.query("format"),
      },
      deps.maxQueryDays,
    );
    const chunks = renderStarExport(deps.backend.usage, request, deps.starConfig ?? DEFAULT_STAR_CONFIG, Date.now(), {
      ...(deps.exportThreads === undefined ? {} : { threads: deps.exportThreads }),
    });
    // The first piece is read before answering, so that a failure to read the store is an error status, not a cut.
    const first = await chunks.next();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (!first.done) controller.enqueue(first.value);
      },
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
    return c.body(body, 200, { "Content-Type": STAR_CONTENT_TYPE[request.format] });
  });

  app.post(
    "/v1/records/star",
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: () => {
        throw new AppError("TOO_LARGE", `the body is larger than the limit of ${deps.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      if (type !== "application/xml" && type !== "text/xml") {
        throw new AppError(
          "UNSUPPORTED_MEDIA_TYPE",
          `content type "${type || "(none)"}" is not accepted; send application/xml or text/xml`,
        );
      }
      const parsed = parseStarDocument(new Uint8Array(await c.req.arrayBuffer()), { maxBytes: deps.maxBodyBytes });
      const result = await importStarRecords(deps.backend, parsed, {
        config: deps.starConfig ?? DEFAULT_STAR_CONFIG,
        gate: serverGate(c.get("principal")),
      });
      return c.json(result);
    },
  );

  app.get("/v1/records/summary", async (c) => {
    const request = parseSummaryRequest(
      { from: c.req.query("from"), to: c.req.query("to"), by: c.req.query("by"), format: c.req.query("format") },
      deps.maxQueryDays,
    );
    const rows = await summarizeRecords(deps.backend.usage, request, deps.starConfig ?? DEFAULT_STAR_CONFIG);
    if (request.format === "csv") {
      return c.body(summaryCsv(request, rows), 200, { "Content-Type": "text/csv; charset=utf-8" });
    }
    return c.json(summaryJson(request, rows));
  });
}

const error = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});
const query = (name: string, description: string, schema: Record<string, unknown> = { type: "string" }) => ({
  name,
  in: "query",
  description,
  schema,
});
const range = [
  query("from", "Start: a date (00:00 UTC) or an RFC 3339 time, on a period boundary.", { type: "string" }),
  query("to", "End (exclusive), on a period boundary.", { type: "string" }),
].map((p) => ({ ...p, required: true }));

export const RECORD_OPENAPI_PATHS = {
  "/v1/records/star": {
    get: {
      operationId: "exportStarRecords",
      summary: "StAR storage accounting records of a range (admin and read tokens).",
      description:
        "One record per period × storage system × site, share, media and class × identity (× DirectoryPath when a " +
        "series' instance is a path), in the namespace http://eu-emi.eu/namespaces/2011/02/storagerecord. Record ids " +
        "are the same each time a period is exported.",
      tags: ["records"],
      parameters: [
        ...range,
        query("period", "day (default) or hour.", { enum: ["day", "hour"] }),
        query("capacity", "end (default): the level at the period's end; average: its time-weighted average.", {
          enum: ["end", "average"],
        }),
        query("site", "Only the records of this Site."),
        query("format", "star-xml (default) or star-json.", { enum: ["star-xml", "star-json"] }),
      ],
      responses: {
        "200": {
          description: "sr:StorageUsageRecords, or its JSON form.",
          content: {
            "application/xml": { schema: { type: "string" } },
            "application/json": { schema: { type: "object" } },
          },
        },
        "400": error("A parameter is missing or wrong, or the range is off the period's boundaries."),
        "401": error("No valid token."),
        "403": error("The token may not read every account."),
      },
    },
    post: {
      operationId: "importStarRecords",
      summary: "Import StAR records as usage of their storage systems (admin and ingest tokens).",
      description:
        "sr:StorageUsageRecords or one sr:StorageUsageRecord. Each valid record is imported wholly or not at all; the " +
        "others are reported, naming the record and the element. A later createTime for a recordId replaces the " +
        "version imported; an older one is reported and ignored. No DOCTYPE; the body limit applies.",
      tags: ["records"],
      requestBody: {
        required: true,
        content: { "application/xml": { schema: { type: "string" } }, "text/xml": { schema: { type: "string" } } },
      },
      responses: {
        "200": {
          description: "What became of the records.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  records: { type: "integer" },
                  imported: { type: "integer" },
                  replaced: { type: "integer" },
                  unchanged: { type: "integer" },
                  older: { type: "integer" },
                  rejected: { type: "integer" },
                  problems: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: {
                        record: { type: "string" },
                        status: { enum: ["older", "rejected"] },
                        reason: { type: "string" },
                      },
                    },
                  },
                  problems_omitted: { type: "integer" },
                },
              },
            },
          },
        },
        "400": error("The document is not well-formed, has a DOCTYPE, is not UTF-8, or has another root."),
        "401": error("No valid token."),
        "403": error("The token may not write events."),
        "413": error("The body is over the size limit."),
        "415": error("The content type is not application/xml or text/xml."),
      },
    },
  },
  "/v1/records/summary": {
    get: {
      operationId: "summarizeRecords",
      summary: "Daily average use per site, system, share, media, class, group, role or day (admin and read tokens).",
      tags: ["records"],
      parameters: [
        ...range,
        query("by", "Comma-separated: site, system, share, media, class, group, role, day (default site,system)."),
        query("format", "json (default) or csv.", { enum: ["json", "csv"] }),
      ],
      responses: {
        "200": {
          description: "One row per key: records summed, and each value's daily averages summed over the days.",
          content: {
            "application/json": { schema: { type: "object" } },
            "text/csv": { schema: { type: "string" } },
          },
        },
        "400": error("A parameter is missing or wrong."),
        "401": error("No valid token."),
        "403": error("The token may not read every account."),
      },
    },
  },
};
