/** Token buckets under TestClock: burst, refill, separate buckets, all-or-nothing, caps, sweep. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { defaults } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { makeRateLimiter, type Requester } from "../../src/policy/RateLimiter.ts"

const OFF: Partial<Settings> = {
  eventsPerSecondPerConnection: 0,
  eventsPerSecondPerIp: 0,
  eventsPerSecondPerPubkey: 0,
  readsPerSecondPerConnection: 0,
  readsPerSecondPerIp: 0,
  readsPerSecondPerPubkey: 0,
  maxConnectionsPerIp: 0
}
const limiter = (s: Partial<Settings>) => makeRateLimiter({ ...defaults(), ...OFF, rateLimitBurstSeconds: 1, ...s })
const who = (connectionId: number, ip = "10.0.0.1", ...pubkeys: Array<string>): Requester => ({ connectionId, ip, pubkeys: new Set(pubkeys) })

/** How many of `n` tries pass. */
const passes = (try1: Effect.Effect<boolean>, n: number) =>
  Effect.map(Effect.forEach(Array.from({ length: n }), () => try1), (rs) => rs.filter(Boolean).length)

describe("RateLimiter", () => {
  it.effect("a connection bursts to rate x burstSeconds, then refills at the rate", () =>
    Effect.gen(function* () {
      const l = limiter({ eventsPerSecondPerConnection: 5, rateLimitBurstSeconds: 2 })
      expect(yield* passes(l.tryEvent(who(1)), 20)).toBe(10)
      yield* TestClock.adjust("1 second")
      expect(yield* passes(l.tryEvent(who(1)), 20)).toBe(5)
      yield* TestClock.adjust("200 millis")
      expect(yield* passes(l.tryEvent(who(1)), 20)).toBe(1)
      yield* TestClock.adjust("1 hour")
      expect(yield* passes(l.tryEvent(who(1)), 20)).toBe(10)
      // Another connection has its own bucket.
      expect(yield* passes(l.tryEvent(who(2)), 20)).toBe(10)
    })
  )

  it.effect("EVENT and read buckets are separate", () =>
    Effect.gen(function* () {
      const l = limiter({ eventsPerSecondPerConnection: 3, readsPerSecondPerConnection: 2 })
      expect(yield* passes(l.tryEvent(who(1)), 10)).toBe(3)
      expect(yield* passes(l.tryRead(who(1)), 10)).toBe(2)
    })
  )

  it.effect("the IP bucket is shared by the IP's connections; the pubkey bucket by the pubkey's", () =>
    Effect.gen(function* () {
      const l = limiter({ eventsPerSecondPerIp: 4, readsPerSecondPerPubkey: 3 })
      expect(yield* passes(l.tryEvent(who(1)), 3)).toBe(3)
      expect(yield* passes(l.tryEvent(who(2)), 3)).toBe(1)
      expect(yield* passes(l.tryEvent(who(3, "10.0.0.2")), 3)).toBe(3)
      expect(yield* passes(l.tryRead(who(1, "1.1.1.1", "pk")), 2)).toBe(2)
      expect(yield* passes(l.tryRead(who(2, "2.2.2.2", "pk")), 2)).toBe(1)
      // Unauthenticated reads have no pubkey bucket.
      expect(yield* passes(l.tryRead(who(2, "2.2.2.2")), 5)).toBe(5)
    })
  )

  it.effect("takes a token from every bucket or from none", () =>
    Effect.gen(function* () {
      const l = limiter({ eventsPerSecondPerConnection: 10, eventsPerSecondPerIp: 2 })
      // Five tries from each of six IPs on one connection: each IP lets 2 through, and the refused
      // tries take nothing from the connection's 10 tokens, which last exactly five IPs.
      const perIp: Array<number> = []
      for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]) {
        perIp.push(yield* passes(l.tryEvent(who(1, ip)), 5))
      }
      expect(perIp).toEqual([2, 2, 2, 2, 2, 0])
    })
  )

  it.effect("caps connections per IP and counts closes", () =>
    Effect.sync(() => {
      const l = limiter({ maxConnectionsPerIp: 2 })
      expect(l.connectionOpened("1.2.3.4")).toBe(true)
      expect(l.connectionOpened("1.2.3.4")).toBe(true)
      expect(l.connectionOpened("1.2.3.4")).toBe(false)
      expect(l.connectionOpened("4.3.2.1")).toBe(true)
      l.connectionClosed(1, "1.2.3.4")
      expect(l.connectionOpened("1.2.3.4")).toBe(true)
      const unlimited = limiter({})
      for (let i = 0; i < 1000; i++) expect(unlimited.connectionOpened("1.2.3.4")).toBe(true)
    })
  )

  it.effect("with every rate at 0 nothing is limited", () =>
    Effect.gen(function* () {
      const l = limiter({})
      expect(yield* passes(l.tryEvent(who(1, "1.1.1.1", "pk")), 10_000)).toBe(10_000)
      expect(yield* passes(l.tryRead(who(1, "1.1.1.1", "pk")), 10_000)).toBe(10_000)
    })
  )

  it.effect("the sweep forgets IP and pubkey buckets that refilled", () =>
    Effect.gen(function* () {
      const l = limiter({ eventsPerSecondPerIp: 10, eventsPerSecondPerPubkey: 10 })
      for (let i = 0; i < 100; i++) yield* l.tryEvent(who(i, `10.0.${i}.1`, `pk${i}`))
      expect(yield* l.sweep).toBe(200)
      yield* TestClock.adjust("50 millis")
      expect(yield* l.sweep).toBe(200)
      yield* TestClock.adjust("1 second")
      expect(yield* l.sweep).toBe(0)
    })
  )
})
