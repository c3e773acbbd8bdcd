/** The retention setting: parsing, first-match lookup, the maintenance run, and the write check. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { loadSettings, RelayConfig } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { withinRetention } from "../../src/policy/limits.ts"
import { EventStore } from "../../src/storage/EventStore.ts"
import { applyRetentionOnce } from "../../src/storage/Maintenance.ts"
import { layerMemory } from "../../src/storage/memory/MemoryEventStore.ts"
import { longestFiniteAge, maxAgeOf, parseRetention, removesAnything, shortestFiniteAge } from "../../src/config/retention.ts"
import { makeEvent, T0 } from "../support/nostr.ts"

const DAY = 86400

describe("parseRetention", () => {
  it("reads kinds, ranges, default, units and never; the first matching rule wins", () => {
    const p = parseRetention("1=30d, 7=12h,30000-39999=never,0-10=1w,default=365d,5=60s")
    if ("error" in p) throw new Error(p.error)
    expect(maxAgeOf(p, 1)).toBe(30 * DAY)
    expect(maxAgeOf(p, 7)).toBe(12 * 3600)
    expect(maxAgeOf(p, 30023)).toBeUndefined()
    expect(maxAgeOf(p, 3)).toBe(7 * DAY)
    expect(maxAgeOf(p, 5)).toBe(7 * DAY) // 0-10 comes before 5=60s
    expect(maxAgeOf(p, 20000)).toBe(365 * DAY)
    expect(longestFiniteAge(p)).toBe(365 * DAY)
    expect(shortestFiniteAge(p)).toBe(60)
    const keepAll = parseRetention("")
    if ("error" in keepAll) throw new Error(keepAll.error)
    expect(removesAnything(keepAll)).toBe(false)
    expect(maxAgeOf(keepAll, 1)).toBeUndefined()
  })

  it("refuses malformed rules with a reason", () => {
    for (const [text, reason] of [
      ["1", /KINDS=AGE/],
      ["1=30", /unit/],
      ["1=30y", /unit/],
      ["1=0d", /more than 0/],
      ["x=1d", /kind/],
      ["5-3=1d", /low to high/],
      ["70000=1d", /0-65535/],
      ["default=1d,default=2d", /more than one default/]
    ] as const) {
      const p = parseRetention(text)
      expect("error" in p ? p.error : "parsed", text).toMatch(reason)
    }
  })

  it.effect("an invalid setting stops start-up naming it", () =>
    Effect.gen(function* () {
      const r = yield* Effect.result(loadSettings({ env: { PARRHESIA_RETENTION: "1=forever" } }))
      expect(r._tag === "Failure" ? r.failure.message : "loaded").toMatch(/setting "retention".*unit/)
    })
  )
})

describe("retention at work", () => {
  it.effect("the maintenance run removes what the setting says, and nothing when it is empty", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const old = makeEvent({ created_at: T0 - 40 * DAY })
      const young = makeEvent({ created_at: T0 - 10 * DAY })
      yield* store.put(old)
      yield* store.put(young)
      yield* TestClock.setTime(T0 * 1000)
      expect(yield* Effect.provide(applyRetentionOnce, RelayConfig.layerWith({ retention: "" }))).toBe(0)
      expect(yield* Effect.provide(applyRetentionOnce, RelayConfig.layerWith({ retention: "1=30d" }))).toBe(1)
      expect((yield* store.query([{}])).map((e) => e.id)).toEqual([young.id])
    }).pipe(Effect.provide(Layer.fresh(layerMemory)))
  )

  it.effect("with NIP-EE on, group messages follow mlsMessageRetentionSeconds unless a rule names kind 445", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const msg = makeEvent({ kind: 445, created_at: T0 - 2 * DAY, tags: [["h", "g"]] })
      const note = makeEvent({ created_at: T0 - 2 * DAY })
      yield* store.put(msg)
      yield* store.put(note)
      yield* TestClock.setTime(T0 * 1000)
      const run = (o: Partial<Settings>) => Effect.provide(applyRetentionOnce, RelayConfig.layerWith(o))
      expect(yield* run({ nipEE: false, mlsMessageRetentionSeconds: DAY })).toBe(0)
      expect(yield* run({ nipEE: true, mlsMessageRetentionSeconds: DAY, retention: "400-500=never" })).toBe(0)
      expect(yield* run({ nipEE: true, mlsMessageRetentionSeconds: DAY })).toBe(1)
      expect((yield* store.query([{}])).map((e) => e.id)).toEqual([note.id])
    }).pipe(Effect.provide(Layer.fresh(layerMemory)))
  )

  it.effect("an event already past its kind's age is refused at write", () =>
    Effect.gen(function* () {
      const p = parseRetention("1=30d")
      if ("error" in p) throw new Error(p.error)
      const check = withinRetention(p)
      const ctx = { connectionId: 1, ip: "x", authenticated: new Set<string>() }
      const outcome = (created: number, kind = 1) =>
        check(ctx, makeEvent({ kind, created_at: created }), T0).pipe(
          Effect.as("ok"),
          Effect.catch((r) => Effect.succeed(r.prefix))
        )
      expect(yield* outcome(T0 - 31 * DAY)).toBe("invalid")
      expect(yield* outcome(T0 - 29 * DAY)).toBe("ok")
      expect(yield* outcome(T0 - 1000 * DAY, 0)).toBe("ok")
    })
  )
})
