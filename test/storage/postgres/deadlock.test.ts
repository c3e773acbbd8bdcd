/**
 * Maintenance and deletions run again when PostgreSQL picks them as a deadlock victim (their
 * transaction was rolled back whole); other failures are not retried.
 */
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { retryingDeadlocks } from "../../../src/storage/postgres/errors.ts"

/** Fails with an error whose reason carries `tag` for the first `failures` runs, then succeeds. */
const flaky = (tag: string, failures: number) => {
  let runs = 0
  const unit = Effect.suspend(() => (++runs <= failures ? Effect.fail({ reason: { _tag: tag } }) : Effect.succeed("done")))
  return { unit, runs: () => runs }
}

describe("retryingDeadlocks", () => {
  it("runs a deadlock victim or a serialization failure again until it succeeds", async () => {
    for (const tag of ["DeadlockError", "SerializationError"]) {
      const f = flaky(tag, 2)
      expect(await Effect.runPromise(retryingDeadlocks(f.unit))).toBe("done")
      expect(f.runs()).toBe(3)
    }
  })

  it("gives up after four retries, and never retries other failures", async () => {
    const always = flaky("DeadlockError", 100)
    expect(Exit.isFailure(await Effect.runPromiseExit(retryingDeadlocks(always.unit)))).toBe(true)
    expect(always.runs()).toBe(5)
    const unique = flaky("UniqueViolation", 1)
    expect(Exit.isFailure(await Effect.runPromiseExit(retryingDeadlocks(unique.unit)))).toBe(true)
    expect(unique.runs()).toBe(1)
  })
})
