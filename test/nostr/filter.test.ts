import { describe, expect, it } from "vitest"
import {
  compileFilter,
  hasTagIn,
  isEmptyFilter,
  matchesAny,
  matchesFilter,
  matchesFilterWith,
  parseFilter,
  type EventHead,
  type Filter,
  type FilterLimits,
  type TagCondition
} from "../../src/nostr/index.ts"
import { makeEvent, newKey } from "../support/nostr.ts"

const LIMITS: FilterLimits = { maxFilterValues: 3, allowSearch: false }
const HEX = "0123456789abcdef".repeat(4)
const HEX2 = "f".repeat(64)

const ok = (u: unknown, limits: FilterLimits = LIMITS): Filter => {
  const r = parseFilter(u, limits)
  if (!("filter" in r)) throw new Error(`unexpected rejection: ${r.prefix}: ${r.error}`)
  return r.filter
}
const bad = (u: unknown, prefix: "invalid" | "unsupported", mention: RegExp | string, limits: FilterLimits = LIMITS) => {
  const r = parseFilter(u, limits)
  expect("filter" in r, `expected ${JSON.stringify(u)} to be rejected`).toBe(false)
  if (!("filter" in r)) {
    expect(r.prefix).toBe(prefix)
    if (typeof mention === "string") expect(r.error).toContain(mention)
    else expect(r.error).toMatch(mention)
  }
}

describe("parseFilter", () => {
  it("accepts every NIP-01 attribute and keeps tag letters without '#'", () => {
    const f = ok({ ids: [HEX], authors: [HEX2], kinds: [0, 65535], "#e": [HEX], "#p": [HEX2], "#t": ["x", ""], "#T": ["Y"], since: 0, until: 10, limit: 5 })
    expect(f).toEqual({ ids: [HEX], authors: [HEX2], kinds: [0, 65535], tags: { e: [HEX], p: [HEX2], t: ["x", ""], T: ["Y"] }, since: 0, until: 10, limit: 5 })
    expect(ok({})).toEqual({})
  })

  it("rejects anything but a JSON object as invalid", () => {
    for (const u of [null, 1, "{}", [], [{}], true]) bad(u, "invalid", /object/)
  })

  for (const key of ["ids", "authors"] as const) {
    it(`${key}: a list of 64-char lowercase hex`, () => {
      for (const v of [HEX, null, {}, [1], [null], [HEX.toUpperCase()], [HEX.slice(1)], [HEX + "0"], ["g" + HEX.slice(1)], [HEX.slice(0, 8)]]) {
        bad({ [key]: v }, "invalid", new RegExp(key))
      }
      expect(ok({ [key]: [HEX, HEX2] })[key]).toEqual([HEX, HEX2])
    })
  }

  it("kinds: integers between 0 and 65535", () => {
    for (const v of [1, "1", [-1], [65536], [1.5], ["1"], [null], [NaN], [Infinity]]) bad({ kinds: v }, "invalid", /kinds/)
    expect(ok({ kinds: [0, 1, 65535] }).kinds).toEqual([0, 1, 65535])
  })

  for (const key of ["since", "until", "limit"] as const) {
    it(`${key}: a non-negative integer`, () => {
      for (const v of [-1, 1.5, "10", null, [1], NaN, Infinity, true]) bad({ [key]: v }, "invalid", new RegExp(key))
      expect(ok({ [key]: 0 })[key]).toBe(0)
      expect(ok({ [key]: 1_700_000_000 })[key]).toBe(1_700_000_000)
    })
  }

  it("#e and #p need 64-char lowercase hex; other letters take any string", () => {
    for (const letter of ["e", "p"]) {
      for (const v of [["x"], [HEX.toUpperCase()], [HEX.slice(2)], [1], "x"]) bad({ [`#${letter}`]: v }, "invalid", new RegExp(`#${letter}`))
    }
    expect(ok({ "#t": ["anything at all", "NOSTR"] }).tags).toEqual({ t: ["anything at all", "NOSTR"] })
    expect(ok({ "#a": ["30023:" + HEX + ":slug"] }).tags).toEqual({ a: ["30023:" + HEX + ":slug"] })
    bad({ "#t": [1] }, "invalid", /#t/)
    bad({ "#t": "x" }, "invalid", /#t/)
  })

  it("every list obeys maxFilterValues", () => {
    const four = [HEX, HEX2, "a".repeat(64), "b".repeat(64)]
    bad({ ids: four }, "invalid", /ids.*3/)
    bad({ authors: four }, "invalid", /authors.*3/)
    bad({ kinds: [1, 2, 3, 4] }, "invalid", /kinds.*3/)
    bad({ "#t": ["a", "b", "c", "d"] }, "invalid", /#t.*3/)
    bad({ "#e": four }, "invalid", /#e.*3/)
    expect(ok({ ids: four.slice(0, 3), authors: four.slice(0, 3), kinds: [1, 2, 3], "#t": ["a", "b", "c"] }).kinds).toEqual([1, 2, 3])
    // The limit is per list, not per filter, and configurable.
    expect(ok({ kinds: [1, 2, 3, 4] }, { maxFilterValues: 4, allowSearch: false }).kinds).toEqual([1, 2, 3, 4])
  })

  it("unknown attributes are unsupported (multi-letter or non-letter tags included)", () => {
    for (const key of ["foo", "#ab", "#title", "#1", "#", "#é", "e", "kind", "Ids", "__proto__", "#_"]) {
      bad(JSON.parse(`{${JSON.stringify(key)}: ["x"]}`), "unsupported", `"${key}"`)
    }
  })

  it("search (NIP-50) is unsupported unless enabled, then must be a string", () => {
    bad({ search: "x" }, "unsupported", /search/)
    const on: FilterLimits = { maxFilterValues: 3, allowSearch: true }
    expect(ok({ search: "best nostr apps" }, on).search).toBe("best nostr apps")
    bad({ search: 1 }, "invalid", /search/, on)
    bad({ search: ["x"] }, "invalid", /search/, on)
  })

  it("empty lists are accepted (they make the filter match nothing)", () => {
    const f = ok({ ids: [], kinds: [], "#t": [] })
    expect(f).toEqual({ ids: [], kinds: [], tags: { t: [] } })
    expect(isEmptyFilter(f)).toBe(true)
  })
})

describe("isEmptyFilter", () => {
  it("is true exactly when some list is empty or since > until", () => {
    expect(isEmptyFilter({})).toBe(false)
    expect(isEmptyFilter({ limit: 0 })).toBe(false)
    expect(isEmptyFilter({ ids: [] })).toBe(true)
    expect(isEmptyFilter({ authors: [] })).toBe(true)
    expect(isEmptyFilter({ kinds: [] })).toBe(true)
    expect(isEmptyFilter({ tags: { t: ["x"], p: [] } })).toBe(true)
    expect(isEmptyFilter({ tags: { t: ["x"] } })).toBe(false)
    expect(isEmptyFilter({ since: 5, until: 4 })).toBe(true)
    expect(isEmptyFilter({ since: 5, until: 5 })).toBe(false)
    expect(isEmptyFilter({ kinds: [1], authors: [HEX] })).toBe(false)
  })
})

describe("matchesFilter / matchesAny (examples)", () => {
  const k = newKey()
  const e = makeEvent({ kind: 7, created_at: 100, tags: [["e", HEX, "wss://r"], ["t", "one", "two"], ["tt", "x"]] }, k)

  it("matches each condition as NIP-01 describes", () => {
    expect(matchesFilter({}, e)).toBe(true)
    expect(matchesFilter({ ids: [e.id] }, e)).toBe(true)
    expect(matchesFilter({ ids: [HEX] }, e)).toBe(false)
    // No prefix matching (NIP-01 requires exact 64-char ids).
    expect(matchesFilter({ ids: [e.id.slice(0, 10)] }, e)).toBe(false)
    expect(matchesFilter({ authors: [HEX, k.pk] }, e)).toBe(true)
    expect(matchesFilter({ kinds: [1, 7] }, e)).toBe(true)
    expect(matchesFilter({ kinds: [1] }, e)).toBe(false)
    expect(matchesFilter({ since: 100, until: 100 }, e)).toBe(true)
    expect(matchesFilter({ since: 101 }, e)).toBe(false)
    expect(matchesFilter({ until: 99 }, e)).toBe(false)
    expect(matchesFilter({ tags: { e: [HEX] } }, e)).toBe(true)
    expect(matchesFilter({ tags: { t: ["two"] } }, e)).toBe(false)
    expect(matchesFilter({ tags: { t: ["one"], e: [HEX2] } }, e)).toBe(false)
    expect(matchesFilter({ tags: { t: ["x"] } }, e)).toBe(false)
    expect(matchesFilter({ ids: [] }, e)).toBe(false)
    expect(matchesFilter({ tags: { t: [] } }, e)).toBe(false)
    // limit does not take part in matching.
    expect(matchesFilter({ limit: 0 }, e)).toBe(true)
  })

  it("matchesAny is OR over filters, false for none", () => {
    expect(matchesAny([], e)).toBe(false)
    expect(matchesAny([{ kinds: [1] }, { authors: [k.pk] }], e)).toBe(true)
    expect(matchesAny([{ kinds: [1] }, { authors: [HEX] }], e)).toBe(false)
  })

  it("the same filter object gives the same answers for different events (compiled once)", () => {
    const f: Filter = { kinds: [7] }
    expect(matchesFilter(f, e)).toBe(true)
    expect(matchesFilter(f, makeEvent({ kind: 1 }))).toBe(false)
    expect(matchesFilter(f, e)).toBe(true)
  })
})

describe("excludeTagged (set by the read policy, never by a client)", () => {
  it("leaves out events tagged with a listed first value, of the listed kinds only", () => {
    const k = newKey()
    const f: Filter = { excludeTagged: [{ name: "h", values: ["a"] }, { name: "d", values: ["x"], kinds: [39000] }] }
    expect(matchesFilter(f, makeEvent({ tags: [["h", "a"]] }, k))).toBe(false)
    expect(matchesFilter(f, makeEvent({ tags: [["h", "b"], ["h", "a"]] }, k))).toBe(false)
    expect(matchesFilter(f, makeEvent({ tags: [["h", "b", "a"]] }, k))).toBe(true)
    expect(matchesFilter(f, makeEvent({ tags: [["h", "b"]] }, k))).toBe(true)
    expect(matchesFilter(f, makeEvent({ kind: 39000, tags: [["d", "x"]] }, k))).toBe(false)
    expect(matchesFilter(f, makeEvent({ kind: 30000, tags: [["d", "x"]] }, k))).toBe(true)
    bad({ excludeTagged: [] }, "unsupported", "excludeTagged")
  })
})

describe("compileFilter / matchesFilterWith / hasTagIn (one statement of the conditions, for every matcher)", () => {
  it("compiles a filter once: its lists as sets, its tag conditions with the filter's own lists, its count of conditions", () => {
    const tags = { t: ["a", "b", "a"], p: [HEX] }
    const f: Filter = { ids: [HEX], kinds: [1, 7], tags, since: 1, until: 9, limit: 3, alsoTagged: { name: "p", value: HEX2 } }
    const c = compileFilter(f)
    expect(compileFilter(f)).toBe(c)
    expect(c.ids).toEqual(new Set([HEX]))
    expect(c.kinds).toEqual(new Set([1, 7]))
    expect(c.authors).toBeUndefined()
    expect(c.tags.map((t) => t.name)).toEqual(["t", "p"])
    expect(c.tags[0]!.values).toBe(tags.t)
    expect(c.tags[0]!.set).toEqual(new Set(["a", "b"]))
    expect(c.alsoTagged).toMatchObject({ name: "p", values: [HEX2] })
    expect(c.excludeTagged).toBeUndefined()
    // ids, kinds, alsoTagged and two tag letters; the time range and the limit are not conditions.
    expect(c.conditions).toBe(5)
    expect(compileFilter({}).conditions).toBe(0)
    expect(compileFilter({ since: 1, limit: 1 }).conditions).toBe(0)
    const x = compileFilter({ excludeKinds: [4], search: "w", excludeTagged: [{ name: "h", values: ["g"], kinds: [9] }, { name: "d", values: ["y"] }] })
    expect(x.conditions).toBe(3)
    expect(x.excludeTagged).toMatchObject([{ name: "h", kinds: new Set([9]) }, { name: "d", kinds: undefined }])
    expect(x.words).toEqual(["w"])
  })

  it("hasTagIn: a tag of that name whose first value is one of the condition's", () => {
    const t: TagCondition = compileFilter({ tags: { t: ["a", "b"] } }).tags[0]!
    expect(hasTagIn(makeEvent({ tags: [["t", "b"]] }), t)).toBe(true)
    expect(hasTagIn(makeEvent({ tags: [["x", "a"], ["t", "c"], ["t", "a", "z"]] }), t)).toBe(true)
    expect(hasTagIn(makeEvent({ tags: [["t", "c", "a"]] }), t)).toBe(false)
    expect(hasTagIn(makeEvent({ tags: [["t"], ["T", "a"]] }), t)).toBe(false)
  })

  it("matchesFilterWith answers as matchesFilter on what a store keeps of an event (no tags), asking the probe for each tag condition", () => {
    const k = newKey()
    const e = makeEvent({ kind: 7, created_at: 100, tags: [["t", "one"], ["p", HEX], ["h", "g"], ["d", "x"]] }, k)
    const head: EventHead = { id: e.id, pubkey: e.pubkey, kind: e.kind, created_at: e.created_at }
    const asked: Array<[string, boolean]> = []
    const probe = (h: EventHead, t: TagCondition, exclusion: boolean) => {
      expect(h).toBe(head)
      asked.push([t.name, exclusion])
      return hasTagIn(e, t)
    }
    const filters: ReadonlyArray<Filter> = [
      {},
      { kinds: [7], authors: [k.pk], since: 100, until: 100 },
      { kinds: [1] },
      { excludeKinds: [7] },
      { ids: [e.id], tags: { t: ["two", "one"], p: [HEX] } },
      { tags: { t: ["one"], p: [HEX2] } },
      { alsoTagged: { name: "p", value: HEX } },
      { alsoTagged: { name: "p", value: HEX2 } },
      { excludeTagged: [{ name: "h", values: ["g"] }] },
      { excludeTagged: [{ name: "h", values: ["other"] }] },
      { excludeTagged: [{ name: "d", values: ["x"], kinds: [39000] }] },
      { excludeTagged: [{ name: "d", values: ["x"], kinds: [7] }] },
      { since: 101 },
      { until: 99 }
    ]
    for (const f of filters) expect(matchesFilterWith(f, head, probe), JSON.stringify(f)).toBe(matchesFilter(f, e))

    asked.length = 0
    matchesFilterWith(
      { tags: { t: ["one"] }, alsoTagged: { name: "p", value: HEX }, excludeTagged: [{ name: "h", values: ["no"] }, { name: "d", values: ["x"], kinds: [1] }] },
      head,
      probe
    )
    // The exclusion of other kinds is not asked about; only exclusions are asked as such.
    expect(asked).toEqual([
      ["p", false],
      ["h", true],
      ["t", false]
    ])
  })

  it("matchesFilter checks the words of search; matchesFilterWith leaves them to the caller", () => {
    const e = makeEvent({ content: "hello nostr world" })
    expect(matchesFilter({ search: "nostr" }, e)).toBe(true)
    expect(matchesFilter({ search: "absent" }, e)).toBe(false)
    expect(matchesFilterWith({ search: "absent" }, e, hasTagIn)).toBe(true)
  })
})
