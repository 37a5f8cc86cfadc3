// GET /v1/backup and /v1/backup/{file}: a running store copied file by file for `tally backup --url`, admin only
// (the copy holds every token's hash and every event).

import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import type { Hono } from "hono";
import type { AppDeps } from "../deps.js";

export function backupRoutes(app: Hono, deps: AppDeps): void {
  app.get("/v1/backup", (c) => c.json({ files: deps.backend.backup.files() }));

  app.get("/v1/backup/:file", async (c) => {
    const backup = deps.backend.backup;
    const name = c.req.param("file");
    const temp = path.join(
      backup.scratchDir,
      `.backup-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    );
    try {
      await backup.copy(name, temp);
      const size = fs.statSync(temp).size;
      const stream = fs.createReadStream(temp);
      // The open descriptor keeps the copy readable; its name goes now, so that no copy is left behind.
      await new Promise<void>((resolve, reject) => stream.once("open", () => resolve()).once("error", reject));
      fs.rmSync(temp, { force: true });
      return c.body(Readable.toWeb(stream) as ReadableStream, 200, {
        "Content-Type": "application/vnd.sqlite3",
        "Content-Length": String(size),
        "Cache-Control": "no-store",
      });
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  });
}

export const BACKUP_OPENAPI_PATHS = {
  "/v1/backup": {
    get: {
      operationId: "backupFiles",
      summary: "The files a copy of the store is made of, in the order to fetch them (admin).",
      tags: ["operations"],
      responses: {
        "200": {
          description: "The files.",
          content: {
            "application/json": {
              schema: {
                type: "object",
                properties: {
                  files: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: { name: { type: "string" }, part: { enum: ["log", "derived"] } },
                    },
                  },
                },
              },
            },
          },
        },
        "400": {
          description: "The store is PostgreSQL: use pg_dump.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        "401": {
          description: "No valid token.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        "403": {
          description: "Not an admin token.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    },
  },
  "/v1/backup/{file}": {
    get: {
      operationId: "backupFile",
      summary: "A consistent copy of one file of the store, taken now (admin).",
      tags: ["operations"],
      parameters: [{ name: "file", in: "path", required: true, schema: { type: "string" } }],
      responses: {
        "200": {
          description: "The SQLite database file.",
          content: { "application/vnd.sqlite3": { schema: { type: "string", format: "binary" } } },
        },
        "400": {
          description: "The store is PostgreSQL: use pg_dump.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        "401": {
          description: "No valid token.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        "403": {
          description: "Not an admin token.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
        "404": {
          description: "No such file in a copy.",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    },
  },
};
