/**
 * The hot window must never change an answer (the workloads: test/support/hotWindowWorkload.ts),
 * over the memory store: many runs, every path (hits, partial answers, misses) exercised.
 * HW_RUNS=N runs more; FC_SEED and FC_PATH (as fast-check prints them) replay one counterexample.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { opArb, runWorkload } from "../support/hotWindowWorkload.ts"

describe("hot window (property)", () => {
  it("answers every REQ and COUNT as the store alone does", async () => {
    const totals = { hit: 0, partial: 0, miss: 0 }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(1500, 4000, 12_000, 1 << 24),
        fc.array(opArb(3), { minLength: 5, maxLength: 60 }),
        async (procs, maxBytes, ops) => {
          const valid = ops.map((o) => ("proc" in o ? { ...o, proc: o.proc % procs } : o))
          const r = await Effect.runPromise(runWorkload(valid, procs, maxBytes))
          for (const c of r.counters) for (const k of ["hit", "partial", "miss"] as const) totals[k] += c[k]
        }
      ),
      { numRuns: Number(process.env.HW_RUNS ?? 1000), ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH!, endOnFailure: true } : {}) }
    )
    // The workloads must exercise every path, not only the store (not when replaying one counterexample).
    if (process.env.FC_SEED === undefined) {
      expect(totals.hit).toBeGreaterThan(100)
      expect(totals.partial).toBeGreaterThan(10)
    }
  }, 120_000)
})
