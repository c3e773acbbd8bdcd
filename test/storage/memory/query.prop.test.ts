/**
 * The memory store's query and count against a model written here from
 * NIP-01 and the port doc: random events (regular, replaceable, addressable,
 * some expired) and random filter lists from small alphabets.
 * The store's index narrowing must never change the answer.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Filter, NostrEvent } from "../../../src/nostr/index.ts"
import { makeMemoryEventStore } from "../../../src/storage/memory/MemoryEventStore.ts"

const PUBKEYS = ["a", "b", "c"].map((c) => c.repeat(64))
const KINDS = [1, 7, 0, 10002, 30000]
const LETTERS = ["e", "t", "d"]
const VALUES = ["x", "y", ""]
const PAST = "1" // long expired
const FUTURE = "99999999999" // far ahead

const tagArb = fc.oneof(
  fc.tuple(fc.constantFrom(...LETTERS, "tt"), fc.constantFrom(...VALUES)).map(([n, v]) => [n, v]),
  fc.tuple(fc.constantFrom(...LETTERS), fc.constantFrom(...VALUES), fc.constantFrom(...VALUES)).map(([n, v, w]) => [n, v, w]),
  fc.constantFrom(["expiration", PAST], ["expiration", FUTURE], ["d"])
)

const specArb = fc.record({
  pubkey: fc.constantFrom(...PUBKEYS),
  created_at: fc.integer({ min: 0, max: 6 }),
  kind: fc.constantFrom(...KINDS),
  tags: fc.array(tagArb, { maxLength: 3 })
})

/** Distinct ids whose order is unrelated to the arrival order. */
const eventsArb = fc
  .array(specArb, { maxLength: 25 })
  .chain((specs) =>
    fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { minLength: specs.length, maxLength: specs.length }).map((nums) =>
      specs.map(
        (s, i): NostrEvent => ({
          ...s,
          id: nums[i]!.toString(16).padStart(4, "0").repeat(16),
          content: "",
          sig: "0".repeat(128)
        })
      )
    )
  )

const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })

const filterArb = (ids: ReadonlyArray<string>): fc.Arbitrary<Filter> =>
  fc
    .record({
      ids: sometimes(fc.subarray([...ids, "f".repeat(64)])),
      authors: sometimes(fc.subarray(PUBKEYS)),
      kinds: sometimes(fc.subarray(KINDS)),
      tags: sometimes(fc.dictionary(fc.constantFrom(...LETTERS), fc.subarray(VALUES), { minKeys: 1, maxKeys: 2 })),
      since: sometimes(fc.integer({ min: 0, max: 7 })),
      until: sometimes(fc.integer({ min: 0, max: 6 })),
      limit: sometimes(fc.integer({ min: 0, max: 6 }))
    })
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Filter)

// ------------------------------------------------------------------ model

const classOf = (k: number) => (k === 0 || k === 3 || (k >= 10000 && k < 20000) ? "r" : k >= 30000 && k < 40000 ? "a" : "n")
const firstValue = (e: NostrEvent, name: string) => e.tags.find((t) => t[0] === name)?.[1]
const addressOf = (e: NostrEvent) => {
  const c = classOf(e.kind)
  return c === "r" ? `${e.kind}/${e.pubkey}` : c === "a" ? `${e.kind}/${e.pubkey}/${firstValue(e, "d") ?? ""}` : undefined
}
const beats = (a: NostrEvent, b: NostrEvent) => a.created_at > b.created_at || (a.created_at === b.created_at && a.id < b.id)
const order = (a: NostrEvent, b: NostrEvent) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1)

/** What the store should hold after these puts: one winner per address, every other event. */
const model = (events: ReadonlyArray<NostrEvent>): Array<NostrEvent> => {
  const out = new Map<string, NostrEvent>()
  for (const e of events) {
    const addr = addressOf(e)
    if (addr === undefined) {
      out.set(e.id, e)
      continue
    }
    const cur = out.get(addr)
    if (cur === undefined || beats(e, cur)) out.set(addr, e)
  }
  return [...out.values()]
}
const expired = (e: NostrEvent) => firstValue(e, "expiration") === PAST
const matches = (f: Filter, e: NostrEvent) =>
  (f.ids === undefined || f.ids.includes(e.id)) &&
  (f.authors === undefined || f.authors.includes(e.pubkey)) &&
  (f.kinds === undefined || f.kinds.includes(e.kind)) &&
  (f.since === undefined || e.created_at >= f.since) &&
  (f.until === undefined || e.created_at <= f.until) &&
  Object.entries(f.tags ?? {}).every(([n, vs]) => e.tags.some((t) => t[0] === n && t.length > 1 && vs.includes(t[1]!)))

const answer = (held: ReadonlyArray<NostrEvent>, filters: ReadonlyArray<Filter>, withLimit: boolean) => {
  const union = new Map<string, NostrEvent>()
  for (const f of filters) {
    const hits = held.filter((e) => !expired(e) && matches(f, e)).sort(order)
    for (const e of withLimit && f.limit !== undefined ? hits.slice(0, f.limit) : hits) union.set(e.id, e)
  }
  return [...union.values()].sort(order)
}

describe("memory store query/count vs a model", () => {
  it("answers every filter list like the model, in NIP-01 order", () => {
    fc.assert(
      fc.property(
        eventsArb.chain((events) => fc.tuple(fc.constant(events), fc.array(filterArb(events.map((e) => e.id)), { maxLength: 3 }))),
        ([events, filters]) => {
          const store = makeMemoryEventStore()
          for (const e of events) Effect.runSync(store.put(e))
          const held = model(events)
          const got = Effect.runSync(store.query(filters))
          expect(got.map((e) => e.id)).toEqual(answer(held, filters, true).map((e) => e.id))
          expect(Effect.runSync(store.count(filters))).toBe(answer(held, filters, false).length)
        }
      ),
      { numRuns: 1500 }
    )
  })
})
