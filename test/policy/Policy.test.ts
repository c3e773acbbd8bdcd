/**
 * The write-limit checks of Policy at their exact boundaries, with the clock
 * under test control.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { defaults } from "../../src/config/RelayConfig.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { limitChecks, Policy, type RequestContext } from "../../src/policy/Policy.ts"

const ctx: RequestContext = { connectionId: 1, ip: "127.0.0.1", authenticated: new Set() }
const NOW = 1_700_000_000

const event = (over: Partial<NostrEvent> = {}): NostrEvent => ({
  id: "0".repeat(64),
  pubkey: "1".repeat(64),
  created_at: NOW,
  kind: 1,
  tags: [],
  content: "",
  sig: "2".repeat(128),
  ...over
})

const policy = (over: Partial<ReturnType<typeof defaults>> = {}) =>
  Policy.make({ limits: limitChecks({ ...defaults(), ...over }), write: [], read: [] })

/** "ok" or the rejection reason. */
const outcome = (p: ReturnType<typeof policy>, e: NostrEvent) =>
  Effect.andThen(TestClock.setTime(NOW * 1000), p.checkLimits(ctx, e)).pipe(
    Effect.as("ok"),
    Effect.catch((r) => Effect.succeed(`${r.prefix}: ${r.message}`))
  )

describe("Policy limit checks", () => {
  it.effect("maxEventTags: exactly the maximum passes, one more is invalid:", () =>
    Effect.gen(function* () {
      const p = policy({ maxEventTags: 2 })
      expect(yield* outcome(p, event({ tags: [["a"], ["b"]] }))).toBe("ok")
      expect(yield* outcome(p, event({ tags: [["a"], ["b"], ["c"]] }))).toMatch(/^invalid: /)
    })
  )

  it.effect("maxContentLength counts characters (code points), not UTF-16 units or bytes", () =>
    Effect.gen(function* () {
      const p = policy({ maxContentLength: 3 })
      expect(yield* outcome(p, event({ content: "abc" }))).toBe("ok")
      expect(yield* outcome(p, event({ content: "abcd" }))).toMatch(/^invalid: /)
      expect(yield* outcome(p, event({ content: "😀😀😀" }))).toBe("ok")
      expect(yield* outcome(p, event({ content: "é€😀" }))).toBe("ok")
      expect(yield* outcome(p, event({ content: "😀😀😀😀" }))).toMatch(/^invalid: /)
      expect(yield* outcome(policy({ maxContentLength: 0 }), event({ content: "" }))).toBe("ok")
      expect(yield* outcome(policy({ maxContentLength: 0 }), event({ content: "x" }))).toMatch(/^invalid: /)
    })
  )

  it.effect("createdAtUpperLimit: now + limit passes, one second more is invalid:", () =>
    Effect.gen(function* () {
      const p = policy({ createdAtUpperLimit: 60 })
      expect(yield* outcome(p, event({ created_at: NOW + 60 }))).toBe("ok")
      expect(yield* outcome(p, event({ created_at: NOW + 61 }))).toMatch(/^invalid: /)
    })
  )

  it.effect("createdAtLowerLimit: now - limit passes, one second older is invalid:, 0 means no limit", () =>
    Effect.gen(function* () {
      const p = policy({ createdAtLowerLimit: 60 })
      expect(yield* outcome(p, event({ created_at: NOW - 60 }))).toBe("ok")
      expect(yield* outcome(p, event({ created_at: NOW - 61 }))).toMatch(/^invalid: /)
      expect(yield* outcome(policy({ createdAtLowerLimit: 0 }), event({ created_at: 0 }))).toBe("ok")
    })
  )

  it.effect("NIP-40: expiration at or before now is invalid:, later passes, malformed is ignored", () =>
    Effect.gen(function* () {
      const p = policy()
      expect(yield* outcome(p, event({ tags: [["expiration", String(NOW)]] }))).toMatch(/^invalid: /)
      expect(yield* outcome(p, event({ tags: [["expiration", String(NOW - 1)]] }))).toMatch(/^invalid: /)
      expect(yield* outcome(p, event({ tags: [["expiration", String(NOW + 1)]] }))).toBe("ok")
      expect(yield* outcome(p, event({ tags: [["expiration", "soon"]] }))).toBe("ok")
    })
  )

  it.effect("the default policy reads the clock, not the wall time", () =>
    Effect.gen(function* () {
      const p = policy({ createdAtUpperLimit: 0 })
      yield* TestClock.setTime(NOW * 1000)
      expect(yield* Effect.as(p.checkLimits(ctx, event({ created_at: NOW })), "ok")).toBe("ok")
      yield* TestClock.setTime((NOW - 1) * 1000)
      const r = yield* Effect.flip(p.checkLimits(ctx, event({ created_at: NOW })))
      expect(r.prefix).toBe("invalid")
    })
  )
})
