import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { NODE_ENV, NODE_FLAGS } from "./node-flags.js";

/** NODE_ENV as the shell writes it before a command. */
const NODE_ENV_ASSIGNMENTS = Object.entries(NODE_ENV)
  .map(([name, value]) => `${name}=${value}`)
  .join(" ");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("the flags and environment Node runs tally with", () => {
  it("are on the command's first line", () => {
    const first = fs.readFileSync(path.join(ROOT, "src/cli/main.ts"), "utf8").split("\n", 1)[0];
    expect(first).toBe(`#!/usr/bin/env -S ${NODE_ENV_ASSIGNMENTS} node ${NODE_FLAGS.join(" ")}`);
  });

  it("are in npm start", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe(`${NODE_ENV_ASSIGNMENTS} node ${NODE_FLAGS.join(" ")} dist/src/cli/main.js serve`);
  });
});
