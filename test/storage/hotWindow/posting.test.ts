import { describe, expect, it } from "vitest"
import { before, insertAll, insertSorted, Posting, type Listed } from "../../../src/storage/hotWindow/posting.ts"

const item = (created_at: number, id: string): Listed => ({ id, created_at, dead: false })

/** A small deterministic generator (the same lists every run). */
const lcg = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)

const inOrder = (items: ReadonlyArray<Listed>) => items.every((e, i) => i === 0 || before(items[i - 1]!, e))

describe("hot window index lists", () => {
  it("insertAll merges new items into the list where inserting each would put them, also when they interleave", () => {
    const rand = lcg(7)
    for (let round = 0; round < 200; round++) {
      const merged = new Posting<Listed>(undefined, undefined)
      const oneByOne = new Posting<Listed>(undefined, undefined)
      let n = 0
      const next = () => item(Math.floor(rand() * 50), (n++).toString(16).padStart(8, "0"))
      const start = Array.from({ length: Math.floor(rand() * 40) }, next)
      for (const e of start) (insertSorted(merged, e), insertSorted(oneByOne, e))
      for (let batch = 0; batch < 3; batch++) {
        const added = Array.from({ length: Math.floor(rand() * 30) }, next)
        if (added.length === 0) continue
        for (const e of added) insertSorted(oneByOne, e)
        insertAll(merged, [...added])
        expect(merged.items).toEqual(oneByOne.items)
        expect(inOrder(merged.items)).toBe(true)
      }
    }
  })

  it("insertAll leaves the evicted items before the list's head where they are", () => {
    const p = new Posting<Listed>(undefined, undefined)
    for (const e of [item(1, "a"), item(2, "b"), item(5, "c"), item(9, "d")]) insertSorted(p, e)
    p.items[0] = { ...p.items[0]!, dead: true }
    p.items[1] = { ...p.items[1]!, dead: true }
    p.head = 2
    // Older than every live item: they go right after the head, never into the evicted part.
    insertAll(p, [item(7, "f"), item(3, "e"), item(10, "g")])
    expect(p.items.map((e) => e.id)).toEqual(["a", "b", "e", "c", "f", "d", "g"])
  })
})
