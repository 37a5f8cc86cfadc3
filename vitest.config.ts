import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // PostgreSQL suites share one database; files run in separate workers but each uses its own schema.
    fileParallelism: true,
  },
});
