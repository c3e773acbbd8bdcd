import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { BoundedSet } from "../../src/lib/BoundedSet.ts"

describe("BoundedSet", () => {
  it("keeps the newest `capacity` members and forgets the oldest first", () => {
    const s = new BoundedSet(3)
    for (const x of ["a", "b", "c"]) expect(s.add(x)).toBe(true)
    expect(s.add("b")).toBe(false)
    expect(s.add("d")).toBe(true)
    expect(["a", "b", "c", "d"].map((x) => s.has(x))).toEqual([false, true, true, true])
    expect(s.size).toBe(3)
  })

  it("a member deleted and added again is not evicted by its old place", () => {
    const s = new BoundedSet(3)
    s.add("a")
    s.add("b")
    s.delete("a")
    s.add("a") // newest now, in place 2
    s.add("c") // place 0 comes round: its old holder "a" has moved on, so "a" stays
    expect(s.has("a")).toBe(true)
    expect(s.has("b")).toBe(true)
    expect(s.has("c")).toBe(true)
  })

  it("never holds more than its capacity, and holds every one of the last additions not deleted since (model check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.constantFrom("add", "delete", "clear"), fc.integer({ min: 0, max: 12 })), { maxLength: 200 }),
        (capacity, ops) => {
          const s = new BoundedSet(capacity)
          const log: Array<string> = [] // additions that took effect, oldest first
          const deleted = new Set<string>()
          for (const [op, n] of ops) {
            const x = `x${n}`
            if (op === "add") {
              if (s.add(x)) {
                log.push(x)
                deleted.delete(x)
              }
            } else if (op === "delete") {
              s.delete(x)
              deleted.add(x)
            } else {
              s.clear()
              log.length = 0
            }
            expect(s.size).toBeLessThanOrEqual(capacity)
            // The last `capacity` effective additions that were not deleted afterwards are all members.
            for (const y of log.slice(-capacity)) if (!deleted.has(y)) expect(s.has(y)).toBe(true)
            // Nothing is a member that was not among them.
            for (let k = 0; k <= 12; k++) if (s.has(`x${k}`)) expect(log.slice(-capacity)).toContain(`x${k}`)
          }
        }
      )
    )
  })

  it("refuses a capacity below 1", () => {
    expect(() => new BoundedSet(0)).toThrow(RangeError)
  })
})
