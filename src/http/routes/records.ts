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
    const chunks = renderStarExport(deps.backend.usage, request, deps.starConfig ?? DEFAULT_STAR_CONFIG, Date.now());
    // The first piece is read before answering, so that a failure to read the store is an error status, not a cut.
    const first = await chunks.next();
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (!first.done) controller.enqueue(encoder.encode(first.value));
      },
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(next.value));
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
