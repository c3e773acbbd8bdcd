/**
 * NIP-42 sessions: challenges, the checks of an AUTH event (time under
 * TestClock control), several pubkeys, and when a fresh challenge is due.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { AuthSessions } from "../../src/auth/AuthSessions.ts"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import { layerNoble } from "../../src/verify/SignatureVerifier.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"

const NOW = 1_800_000_000
const RELAY = "wss://relay.example.com"
const layer = AuthSessions.layer.pipe(Layer.provideMerge(layerNoble), Layer.provideMerge(RelayConfig.layerWith({ relayUrl: RELAY })))

const authEvent = (key: Key, challenge: string, over: { relay?: string; created_at?: number } = {}) =>
  makeEvent({ kind: 22242, created_at: over.created_at ?? NOW, tags: [["relay", over.relay ?? RELAY], ["challenge", challenge]], content: "" }, key)

const reason = <A>(eff: Effect.Effect<A, { readonly prefix: string; readonly message: string }>) =>
  Effect.map(Effect.result(eff), (r) => (r._tag === "Success" ? "ok" : `${r.failure.prefix}: ${r.failure.message}`))

describe("AuthSessions", () => {
  it.effect("accepts AUTH events within 10 minutes of now for the configured relay, for several pubkeys", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const auth = yield* AuthSessions
      const s = auth.open("ignored.example:1")
      const c = auth.challengeOf(s)
      const a = newKey()
      const b = newKey()
      expect(yield* reason(auth.authenticate(s, authEvent(a, c, { created_at: NOW - 600 })))).toBe("ok")
      expect(yield* reason(auth.authenticate(s, authEvent(b, c, { created_at: NOW + 600, relay: "wss://RELAY.example.com:443/" })))).toBe("ok")
      expect([...s.pubkeys].sort()).toEqual([a.pk, b.pk].sort())
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), c, { created_at: NOW - 601 })))).toMatch(/^invalid: .*created_at/)
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), c, { relay: "ws://relay.example.com" })))).toMatch(/^invalid: .*relay/)
      // Another connection's challenge is not this one's.
      const other = auth.open(undefined)
      expect(yield* reason(auth.authenticate(other, authEvent(newKey(), c)))).toMatch(/^invalid: .*challenge/)
      expect(s.pubkeys.size).toBe(2)
    }).pipe(Effect.provide(layer))
  )

  it.effect("offers a fresh challenge only when none is outstanding, and keeps earlier ones valid", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const auth = yield* AuthSessions
      const s = auth.open(undefined)
      const first = auth.challengeOf(s)
      expect(auth.challengeIfNeeded(s)).toBeUndefined()
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), first)))).toBe("ok")
      const second = auth.challengeIfNeeded(s)
      expect(second).toMatch(/^[0-9a-f]{32}$/)
      expect(second).not.toBe(first)
      expect(auth.challengeIfNeeded(s)).toBeUndefined()
      // The first challenge still authenticates (valid for the connection).
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), first)))).toBe("ok")
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), second!)))).toBe("ok")
    }).pipe(Effect.provide(layer))
  )

  it.effect("without relayUrl, expects the Host the client connected to, in ws:// or wss:// form", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const auth = yield* AuthSessions
      const s = auth.open("127.0.0.1:7777")
      const c = auth.challengeOf(s)
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), c, { relay: "ws://127.0.0.1:7777" })))).toBe("ok")
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), c, { relay: "wss://127.0.0.1:7777/" })))).toBe("ok")
      expect(yield* reason(auth.authenticate(s, authEvent(newKey(), c, { relay: "ws://127.0.0.1:7778" })))).toMatch(/^invalid: /)
    }).pipe(Effect.provide(AuthSessions.layer.pipe(Layer.provideMerge(layerNoble), Layer.provideMerge(RelayConfig.layerWith()))))
  )
})
