import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: keep file-level parallelism modest so socket tests stay stable.
    maxWorkers: 2,
    // Relays the tests start (in-process or as child processes) skip the JIT warm-up: a second of
    // work per start, for nothing a test measures. test/relay/warmUp.test.ts turns it on.
    env: { PARRHESIA_WARM_UP_MESSAGES: "0" },
    // One throwaway embedded PostgreSQL for the run (or TEST_DATABASE_URL); see test/support/postgres.ts.
    globalSetup: ["test/support/postgresGlobalSetup.ts"]
  }
})
