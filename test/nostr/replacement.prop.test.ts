/**
 * Replaceable / addressable conflict resolution, as a property: whatever set
 * of versions of one address arrives, in whatever order, the memory store
 * ends up holding exactly one event of that address, the newest, ties going
 * to the lowest id (NIP-01); and each put's outcome says whether it won.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"

/** a beats b at the same address (NIP-01, written here independently). */
const beats = (a: NostrEvent, b: NostrEvent) => a.created_at > b.created_at || (a.created_at === b.created_at && a.id < b.id)

const dForms = [[], [["d"]], [["d", ""]]] as const

const scenario = fc.record({
  kind: fc.constantFrom(0, 3, 10000, 10002, 19999, 30000, 30023, 39999),
  /** per version: created_at offset (small, so ties happen) and which spelling of the empty d it uses */
  versions: fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3 }), dForm: fc.integer({ min: 0, max: 2 }), extraTag: fc.boolean() }), {
    minLength: 1,
    maxLength: 7
  }),
  /** sort keys that shuffle the arrival order */
  order: fc.array(fc.double({ noNaN: true }), { minLength: 7, maxLength: 7 }),
  /** versions put a second time at the end */
  again: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 })
})

describe("replacement conflict resolution (memory store)", () => {
  it("keeps exactly the newest version, lowest id on ties, for any arrival order", () => {
    fc.assert(
      fc.property(scenario, ({ kind, versions, order, again }) => {
        const key = newKey()
        const events = versions.map((v, i) =>
          makeEvent(
            {
              kind,
              created_at: T0 + v.dt,
              tags: [...dForms[v.dForm]!, ...(v.extraTag ? [["t", "x"]] : [])],
              content: `v${i}`
            },
            key
          )
        )
        const arrival = events.map((e, i) => ({ e, k: order[i]! })).sort((a, b) => a.k - b.k).map((x) => x.e)
        const store = makeMemoryEventStore()
        const seen: Array<NostrEvent> = []
        for (const e of arrival) {
          const outcome = Effect.runSync(store.put(e))
          const wins = seen.every((p) => beats(e, p))
          expect(outcome).toBe(wins ? "stored" : "superseded")
          seen.push(e)
        }
        const winner = events.reduce((best, e) => (beats(e, best) ? e : best))
        for (const i of again) {
          const e = events[i % events.length]!
          expect(Effect.runSync(store.put(e))).toBe(e.id === winner.id ? "duplicate" : "superseded")
        }
        const stored = Effect.runSync(store.query([{ authors: [key.pk] }]))
        expect(stored.map((e) => e.id)).toEqual([winner.id])
        expect(Effect.runSync(store.count([{ kinds: [kind] }]))).toBe(1)
      }),
      { numRuns: 150 }
    )
  })

  it("addresses with different d values never interfere", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ d: fc.constantFrom("a", "b", "", "A"), dt: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 8 }),
        (versions) => {
          const key = newKey()
          const store = makeMemoryEventStore()
          const events = versions.map((v, i) => makeEvent({ kind: 30001, created_at: T0 + v.dt, tags: [["d", v.d]], content: `v${i}` }, key))
          for (const e of events) Effect.runSync(store.put(e))
          const expected = new Map<string, NostrEvent>()
          for (const e of events) {
            const d = e.tags[0]![1]!
            const cur = expected.get(d)
            if (cur === undefined || beats(e, cur)) expected.set(d, e)
          }
          const got = Effect.runSync(store.query([{ authors: [key.pk] }]))
          expect(got.map((e) => e.id).sort()).toEqual([...expected.values()].map((e) => e.id).sort())
        }
      ),
      { numRuns: 100 }
    )
  })
})
