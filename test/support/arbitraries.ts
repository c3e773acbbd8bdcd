/**
 * fast-check generators of events and filters over small alphabets, so that
 * matches and near-misses both happen often. Shared by the property tests of
 * the matcher and of the subscription index.
 */
import fc from "fast-check"
import type { Filter, NostrEvent } from "../../src/nostr/index.ts"

const hex = (c: string) => c.repeat(64)

export interface Alphabet {
  readonly ids: ReadonlyArray<string>
  readonly pubkeys: ReadonlyArray<string>
  readonly kinds: ReadonlyArray<number>
  /** Tag names on events, including multi-letter ones a filter can never ask for. */
  readonly tagNames: ReadonlyArray<string>
  readonly tagValues: ReadonlyArray<string>
  /** Single letters filters ask for. */
  readonly letters: ReadonlyArray<string>
  /** created_at is drawn from 0..maxTime. */
  readonly maxTime: number
  readonly maxTags: number
  /** Whether filters carry a `limit` (it must not change matching). */
  readonly withLimit: boolean
}

export const alphabet = (overrides: Partial<Alphabet> = {}): Alphabet => ({
  ids: ["1", "2", "3"].map(hex),
  pubkeys: ["a", "b", "c"].map(hex),
  kinds: [0, 1, 7, 30023],
  tagNames: ["e", "p", "t", "d", "tt"],
  tagValues: ["x", "y", "", hex("1"), hex("a")],
  letters: ["e", "p", "t", "d"],
  maxTime: 6,
  maxTags: 4,
  withLimit: false,
  ...overrides
})

/** Each attribute present about one time in three, so that filters match often enough. */
const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })
const list = <T>(pool: ReadonlyArray<T>) => fc.subarray([...pool], { minLength: 0 })

export const eventArb = (a: Alphabet): fc.Arbitrary<NostrEvent> => {
  const name = fc.constantFrom(...a.tagNames)
  const value = fc.constantFrom(...a.tagValues)
  const tag = fc.oneof(
    name.map((n) => [n]),
    fc.tuple(name, value).map(([n, v]) => [n, v]),
    fc.tuple(name, value, value).map(([n, v, w]) => [n, v, w])
  )
  return fc.record({
    id: fc.constantFrom(...a.ids),
    pubkey: fc.constantFrom(...a.pubkeys),
    created_at: fc.integer({ min: 0, max: a.maxTime }),
    kind: fc.constantFrom(...a.kinds),
    tags: fc.array(tag, { maxLength: a.maxTags }),
    content: fc.constant(""),
    sig: fc.constant("0".repeat(128))
  })
}

export const filterArb = (a: Alphabet): fc.Arbitrary<Filter> =>
  fc
    .record({
      ids: sometimes(list(a.ids)),
      authors: sometimes(list(a.pubkeys)),
      kinds: sometimes(list(a.kinds)),
      tags: sometimes(fc.dictionary(fc.constantFrom(...a.letters), list(a.tagValues), { minKeys: 1, maxKeys: 2 })),
      since: sometimes(fc.integer({ min: 0, max: a.maxTime + 1 })),
      until: sometimes(fc.integer({ min: 0, max: a.maxTime })),
      limit: a.withLimit ? sometimes(fc.integer({ min: 0, max: 5 })) : fc.constant(undefined)
    })
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Filter)
