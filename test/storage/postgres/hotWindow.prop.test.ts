/**
 * The hot window must never change an answer, on PostgreSQL: the workloads of
 * test/support/hotWindowWorkload.ts with the PostgreSQL store as the shared store (emptied for
 * each run), so the window's rules are checked against the production store's (ordering, tag
 * indexing, replaceable heads, deletions, vanish, expiry, retention). Fewer runs than on memory.
 */
import { Context, Effect, Layer } from "effect"
import fc from "fast-check"
import { describe, it } from "vitest"
import { EventStore } from "../../../src/storage/EventStore.ts"
import { opArb, runWorkload } from "../../support/hotWindowWorkload.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../../support/postgres.ts"

const db = usePostgresDatabase()

describe("hot window on postgres (property)", () => {
  it("answers every REQ and COUNT as the PostgreSQL store alone does", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(1500, 4000, 1 << 24),
        fc.array(opArb(3), { minLength: 5, maxLength: 40 }),
        async (procs, maxBytes, ops) => {
          const valid = ops.map((o) => ("proc" in o ? { ...o, proc: o.proc % procs } : o))
          const shared = Effect.map(Layer.build(postgresStoreLayer(db)), (ctx) => Context.get(ctx, EventStore))
          await Effect.runPromise(runWorkload(valid, procs, maxBytes, Effect.orDie(shared)))
        }
      ),
      { numRuns: Number(process.env.HW_PG_RUNS ?? 25) }
    )
  }, 300_000)
})
