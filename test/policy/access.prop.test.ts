/**
 * The private-kind scoping of Policy: for any event and filter, the scoped
 * filters match exactly when the original filter matches AND the connection
 * may see the event (author or p-tagged recipient of a private kind).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { matchesAny, matchesFilter } from "../../src/nostr/index.ts"
import { mayReadPrivate, scopePrivate } from "../../src/policy/access.ts"
import type { RequestContext } from "../../src/policy/types.ts"
import { alphabet, eventArb, filterArb } from "../support/arbitraries.ts"

const a = alphabet({ kinds: [0, 1, 4, 1059], tagNames: ["p", "e", "t"], letters: ["p", "e", "t"] })
const PRIVATE = new Set([4, 1059])

describe("scopePrivate", () => {
  it("matches what the filter matches and the connection may see", () => {
    fc.assert(
      fc.property(eventArb(a), filterArb(a), fc.subarray([...a.pubkeys]), (e, f, authed) => {
        const ctx: RequestContext = { connectionId: 1, ip: "127.0.0.1", authenticated: new Set(authed) }
        const scoped = scopePrivate(PRIVATE, ctx, f)
        const visible = !PRIVATE.has(e.kind) || mayReadPrivate(ctx, e)
        expect(matchesAny(scoped, e)).toBe(matchesFilter(f, e) && visible)
      }),
      { numRuns: 5000 }
    )
  })

  it("serves a recipient a private event that p-tags both a value of the filter's #p and the recipient", () => {
    const [x, r, author] = [...a.pubkeys] as [string, string, string]
    const e = { id: "0".repeat(64), pubkey: author, created_at: 1, kind: 4, tags: [["p", x], ["p", r]], content: "", sig: "0".repeat(128) }
    const f = { kinds: [4], tags: { p: [x] } }
    const asRecipient: RequestContext = { connectionId: 1, ip: "x", authenticated: new Set([r]) }
    expect(matchesAny(scopePrivate(PRIVATE, asRecipient, f), e)).toBe(true)
    expect(matchesAny(scopePrivate(PRIVATE, { ...asRecipient, authenticated: new Set() }, f), e)).toBe(false)
  })

  it("leaves filters that cannot reach a private kind unchanged, and everything when no kind is private", () => {
    const ctx: RequestContext = { connectionId: 1, ip: "x", authenticated: new Set() }
    const f = { kinds: [1, 0] }
    expect(scopePrivate(PRIVATE, ctx, f)[0]).toBe(f)
    const g = { authors: ["a".repeat(64)] }
    expect(scopePrivate(new Set(), ctx, g)[0]).toBe(g)
    expect(scopePrivate(PRIVATE, ctx, g)).toEqual([{ ...g, excludeKinds: [4, 1059] }])
  })
})
