// The direction of imports, read from the sources with the TypeScript compiler: the domain in the middle, adapters
// at the edge, no capability reaching into another's storage, and no circles.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL(".", import.meta.url));

/** Every non-test source file under src/, relative to it, with the files of ours it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const entry of fs.readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.endsWith(".test.ts")) continue;
    const file = path.join(entry.parentPath, entry.name);
    const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022);
    const imports: string[] = [];
    const visit = (node: ts.Node) => {
      const specifier =
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier
          ? node.moduleSpecifier
          : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
            ? node.arguments[0]
            : undefined;
      if (specifier && ts.isStringLiteral(specifier) && specifier.text.startsWith(".")) {
        const target = path.resolve(path.dirname(file), specifier.text.replace(/\.js$/, ".ts"));
        imports.push(path.relative(SRC, target));
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    graph.set(path.relative(SRC, file), imports);
  }
  return graph;
}

/** The folder under src/ a file belongs to ("" for src/main.ts). */
const area = (file: string) => (file.includes(path.sep) ? (file.split(path.sep)[0] as string) : "");
/** A file that knows a database: an adapter of a capability (db/ holds the migration runners every adapter shares). */
const isAdapter = (file: string) => area(file) !== "db" && /(^|\/)(sqlite|postgres)(\/|-)/.test(file);

interface Rule {
  readonly name: string;
  readonly forbids: (from: string, to: string) => boolean;
}

const RULES: Rule[] = [
  {
    name: "src/domain imports nothing of ours outside it",
    forbids: (f, t) => area(f) === "domain" && area(t) !== "domain",
  },
  {
    name: "src/http and src/cli never import an adapter",
    forbids: (f, t) => (area(f) === "http" || area(f) === "cli") && isAdapter(t),
  },
  {
    name: "src/store never imports a view or another capability",
    forbids: (f, t) => area(f) === "store" && !["store", "domain", "db"].includes(area(t)),
  },
  {
    name: "an adapter of one capability never imports another capability's adapter",
    forbids: (f, t) => isAdapter(f) && isAdapter(t) && area(f) !== area(t) && area(f) !== "backend",
  },
];

function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const walk = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next) && graph.has(next)) walk(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) walk(file);
  return found;
}

describe("imports", () => {
  const graph = importGraph();

  it("reads the whole tree", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get(path.join("http", "app.ts"))).toContain(path.join("http", "errors.ts"));
  });

  it.each(RULES)("$name", ({ forbids }) => {
    const broken: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) if (forbids(from, to)) broken.push(`${from} → ${to}`);
    }
    expect(broken).toEqual([]);
  });

  it("form no circles", () => {
    expect(circles(graph).map((c) => c.join(" → "))).toEqual([]);
  });
});
