// Every route the app serves is in /openapi.json, and everything /openapi.json describes is served.

import { createConfig, lintFromString } from "@redocly/openapi-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../backend/backend.js";
import { openSqliteBackend } from "../backend/sqlite.js";
import { createLogger } from "../log/logger.js";
import { createApp } from "./app.js";
import { openApiDocument, openApiPath } from "./openapi.js";

let backend: Backend;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  backend = await openSqliteBackend({ path: ":memory:", recentKeySlots: 16 });
  app = createApp({
    backend,
    logger: createLogger("silent"),
    maxBodyBytes: 1 << 20,
    localReads: true,
    maxQueryDays: 366,
  });
});
afterAll(async () => {
  await backend.close();
});

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** The app's routes as "method path" in OpenAPI form, without the middleware registered for every path. */
function appRoutes(): string[] {
  const routes = new Set<string>();
  for (const r of app.routes) {
    if (r.method === "ALL" && (r.path === "*" || r.path === "/*")) continue;
    const methods = r.method === "ALL" ? METHODS : [r.method.toLowerCase()];
    for (const m of methods) routes.add(`${m} ${openApiPath(r.path)}`);
  }
  return [...routes].sort();
}

function describedRoutes(doc: Record<string, unknown>): string[] {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => METHODS.includes(k))
        .map((m) => `${m} ${path}`),
    )
    .sort();
}

describe("GET /openapi.json", () => {
  it("is OpenAPI 3.1, served to a local reader", async () => {
    const res = await app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it("describes every route of the app", () => {
    const routes = appRoutes();
    expect(routes.length).toBeGreaterThan(5);
    const described = new Set(describedRoutes(openApiDocument()));
    expect(routes.filter((r) => !described.has(r))).toEqual([]);
  });

  it("describes no route the app does not serve", () => {
    const routes = new Set(appRoutes());
    expect(describedRoutes(openApiDocument()).filter((r) => !routes.has(r))).toEqual([]);
  });

  it("gives every operation an id, a summary, and the 401 and 403 answers", () => {
    const paths = openApiDocument().paths as Record<string, Record<string, Record<string, unknown>>>;
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(op.operationId, `${method} ${path}`).toBeTypeOf("string");
        expect(op.summary, `${method} ${path}`).toBeTypeOf("string");
        expect(Object.keys(op.responses as object), `${method} ${path}`).toEqual(
          expect.arrayContaining(["401", "403"]),
        );
      }
    }
  });

  it("resolves every $ref", () => {
    const doc = openApiDocument();
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(0);
    const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
    for (const ref of refs) expect(Object.keys(schemas)).toContain(ref);
  });
});

describe("GET /openapi.json under Redocly's linter", () => {
  it("has no error or warning from the recommended rules, every tag declared", async () => {
    const res = await app.request("/openapi.json");
    // Operations' tags must be declared, with a description, so that a viewer groups and explains them.
    const config = await createConfig({ extends: ["recommended"], rules: { "operation-tag-defined": "error" } });
    const problems = await lintFromString({ source: await res.text(), absoluteRef: "openapi.json", config });
    const found = problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? "#/"}`);
    expect(found).toEqual([]);
  });
});
