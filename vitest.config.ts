import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // The end-to-end tests run the built binary: build dist/ when it is missing or stale.
    globalSetup: ["test/e2e/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PostgreSQL suites share one database; files run in separate workers but each uses its own schema.
    fileParallelism: true,
  },
});
