import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: keep file-level parallelism modest so socket tests stay stable.
    maxWorkers: 2,
    // One throwaway embedded PostgreSQL for the run (or TEST_DATABASE_URL); see test/support/postgres.ts.
    globalSetup: ["test/support/postgresGlobalSetup.ts"]
  }
})
