/**
 * matchesFilter / matchesAny against a reference matcher written here from
 * the NIP-01 text, over random events and filters drawn from small alphabets
 * so that matches and near-misses both happen often.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { matchesAny, matchesFilter, type Filter, type NostrEvent } from "../../src/nostr/index.ts"
import { alphabet, eventArb as eventArbOf, filterArb as filterArbOf } from "../support/arbitraries.ts"

const A = alphabet({
  ids: ["1", "2", "3", "4"].map((c) => c.repeat(64)),
  tagNames: ["e", "p", "t", "T", "d", "tt", "title"],
  tagValues: ["x", "y", "z", "", "1".repeat(64), "a".repeat(64)],
  letters: ["e", "p", "t", "T", "d"],
  maxTime: 10,
  maxTags: 5,
  withLimit: true
})
const eventArb = eventArbOf(A)
const filterArb = filterArbOf(A)

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
