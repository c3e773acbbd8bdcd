/**
 * matchesFilter / matchesAny against a reference matcher written here from
 * the NIP-01 text, over random events and filters drawn from small alphabets
 * so that matches and near-misses both happen often.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { matchesAny, matchesFilter, type Filter, type NostrEvent } from "../../src/nostr/index.ts"

const hex = (c: string) => c.repeat(64)
const IDS = ["1", "2", "3", "4"].map(hex)
const PUBKEYS = ["a", "b", "c"].map(hex)
const KINDS = [0, 1, 7, 30023]
const TAG_NAMES = ["e", "p", "t", "T", "d", "tt", "title"]
const TAG_VALUES = ["x", "y", "z", "", hex("1"), hex("a")]
const LETTERS = ["e", "p", "t", "T", "d"]

const tagArb = fc.oneof(
  fc.tuple(fc.constantFrom(...TAG_NAMES)).map(([n]) => [n]),
  fc.tuple(fc.constantFrom(...TAG_NAMES), fc.constantFrom(...TAG_VALUES)).map(([n, v]) => [n, v]),
  fc.tuple(fc.constantFrom(...TAG_NAMES), fc.constantFrom(...TAG_VALUES), fc.constantFrom(...TAG_VALUES)).map(([n, v, w]) => [n, v, w])
)

const eventArb: fc.Arbitrary<NostrEvent> = fc.record({
  id: fc.constantFrom(...IDS),
  pubkey: fc.constantFrom(...PUBKEYS),
  created_at: fc.integer({ min: 0, max: 10 }),
  kind: fc.constantFrom(...KINDS),
  tags: fc.array(tagArb, { maxLength: 5 }),
  content: fc.constant(""),
  sig: fc.constant("0".repeat(128))
})

const list = <T>(pool: ReadonlyArray<T>) => fc.subarray([...pool], { minLength: 0 })

/** Each attribute present about one time in three, so that filters match often enough. */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })

const filterArb: fc.Arbitrary<Filter> = fc
  .record({
    ids: sometimes(list(IDS)),
    authors: sometimes(list(PUBKEYS)),
    kinds: sometimes(list(KINDS)),
    tags: sometimes(fc.dictionary(fc.constantFrom(...LETTERS), list(TAG_VALUES), { minKeys: 1, maxKeys: 2 })),
    since: sometimes(fc.integer({ min: 0, max: 11 })),
    until: sometimes(fc.integer({ min: 0, max: 10 })),
    limit: sometimes(fc.integer({ min: 0, max: 5 }))
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Filter)

/** NIP-01, read literally. */
const reference = (f: Filter, e: NostrEvent): boolean => {
  // "the attribute from the event must be contained in the filter list"
  if (f.ids !== undefined && !f.ids.some((id) => id === e.id)) return false
  if (f.authors !== undefined && !f.authors.some((a) => a === e.pubkey)) return false
  if (f.kinds !== undefined && !f.kinds.some((k) => k === e.kind)) return false
  // "#<single-letter>": the event and filter values "must have at least one item in common";
  // "Only the first value in any given tag is indexed."
  if (f.tags !== undefined) {
    for (const letter of Object.keys(f.tags)) {
      const wanted = f.tags[letter]!
      const eventValues = e.tags.filter((t) => t[0] === letter && t.length >= 2).map((t) => t[1])
      if (!wanted.some((w) => eventValues.includes(w))) return false
    }
  }
  // "since <= created_at <= until"
  if (f.since !== undefined && !(f.since <= e.created_at)) return false
  if (f.until !== undefined && !(e.created_at <= f.until)) return false
  // `limit` is not a matching condition.
  return true
}

describe("matchesFilter agrees with a NIP-01 reference matcher", () => {
  it("for random events and filters", () => {
    let hits = 0
    let misses = 0
    fc.assert(
      fc.property(filterArb, eventArb, (f, e) => {
        const want = reference(f, e)
        if (want) hits++
        else misses++
        expect(matchesFilter(f, e)).toBe(want)
      }),
      { numRuns: 5000 }
    )
    // The generators must produce matches, or the property says little.
    expect(hits).toBeGreaterThan(500)
    expect(misses).toBeGreaterThan(500)
  })

  it("when the same filter object is reused across many events", () => {
    fc.assert(
      fc.property(filterArb, fc.array(eventArb, { maxLength: 20 }), (f, events) => {
        for (const e of events) expect(matchesFilter(f, e)).toBe(reference(f, e))
      }),
      { numRuns: 500 }
    )
  })

  it("matchesAny is the OR of the filters", () => {
    fc.assert(
      fc.property(fc.array(filterArb, { maxLength: 4 }), eventArb, (fs, e) => {
        expect(matchesAny(fs, e)).toBe(fs.some((f) => reference(f, e)))
      }),
      { numRuns: 2000 }
    )
  })
})
