/** The Moderation view: static configuration merged with the store, write-through, kinds, IP ranges, listeners. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaults } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { makeModeration, STATIC_REASON } from "../../src/moderation/Moderation.ts"
import { StoreError } from "../../src/storage/EventStore.ts"
import { makeMemoryModerationStore } from "../../src/storage/memory/MemoryModerationStore.ts"
import type { ModerationStoreShape } from "../../src/storage/ModerationStore.ts"

const A = "a".repeat(64)
const B = "b".repeat(64)
const settings = (o: Partial<Settings> = {}): Settings => ({ ...defaults(), ...o })

describe("Moderation", () => {
  it.effect("merges static configuration with stored entries; static ones cannot be removed", () =>
    Effect.gen(function* () {
      const store = makeMemoryModerationStore()
      yield* store.add("bannedPubkeys", B, "stored")
      const m = yield* makeModeration(settings({ bannedPubkeys: [A] }), store)
      expect(m.isPubkeyBanned(A)).toBe(true)
      expect(m.isPubkeyBanned(B)).toBe(true)
      expect(m.list("bannedPubkeys")).toEqual([{ value: A, reason: STATIC_REASON }, { value: B, reason: "stored" }])
      expect(yield* m.unbanPubkey(A)).toBe(false)
      expect(m.isPubkeyBanned(A)).toBe(true)
      expect(yield* m.unbanPubkey(B)).toBe(true)
      expect(m.isPubkeyBanned(B)).toBe(false)
      expect((yield* store.load).lists.bannedPubkeys).toEqual([])
      expect(m.hasServeRestrictions()).toBe(true)
    })
  )

  it.effect("writes through: a change is stored, and a failed write changes nothing", () =>
    Effect.gen(function* () {
      const store = makeMemoryModerationStore()
      const m = yield* makeModeration(settings(), store)
      yield* m.banEvent(A, "x")
      expect((yield* store.load).lists.bannedEvents).toEqual([{ value: A, reason: "x" }])
      const failing: ModerationStoreShape = { ...store, add: () => Effect.fail(new StoreError({ message: "disk on fire" })) }
      const m2 = yield* makeModeration(settings(), failing)
      const r = yield* Effect.result(m2.banPubkey(B, ""))
      expect(r._tag).toBe("Failure")
      expect(m2.isPubkeyBanned(B)).toBe(false)
    })
  )

  it.effect("kinds: allowkind lifts a block or extends the allowed list; disallowkind never opens a kind", () =>
    Effect.gen(function* () {
      const m = yield* makeModeration(settings(), makeMemoryModerationStore())
      expect(m.isKindAllowed(7)).toBe(true)
      yield* m.disallowKind(7)
      expect(m.isKindAllowed(7)).toBe(false)
      yield* m.allowKind(7)
      expect(m.isKindAllowed(7)).toBe(true)
      expect(m.list("allowedKinds")).toEqual([])
      yield* m.allowKind(1)
      expect([m.isKindAllowed(1), m.isKindAllowed(7)]).toEqual([true, false])
      yield* m.disallowKind(1)
      expect([m.isKindAllowed(1), m.isKindAllowed(7)]).toEqual([false, true])
      const s = yield* makeModeration(settings({ allowedKinds: [1, 3], disallowedKinds: [3] }), makeMemoryModerationStore())
      expect([s.isKindAllowed(1), s.isKindAllowed(3), s.isKindAllowed(0)]).toEqual([true, false, false])
    })
  )

  it.effect("blocks addresses and ranges, static and added, and tells listeners", () =>
    Effect.gen(function* () {
      const m = yield* makeModeration(settings({ blockedIps: ["192.0.2.0/24"] }), makeMemoryModerationStore())
      const seen: Array<string> = []
      const stop = m.onChange((l) => seen.push(l))
      expect(m.isIpBlocked("192.0.2.77")).toBe(true)
      expect(m.isIpBlocked("::ffff:192.0.2.1")).toBe(true)
      expect(m.isIpBlocked("198.51.100.1")).toBe(false)
      yield* m.blockIp("198.51.100.0/30", "abuse")
      expect(m.isIpBlocked("198.51.100.3")).toBe(true)
      expect(m.isIpBlocked("198.51.100.4")).toBe(false)
      yield* m.unblockIp("198.51.100.0/30")
      expect(m.isIpBlocked("198.51.100.3")).toBe(false)
      yield* m.setRelayInfo("name", "Renamed")
      stop()
      yield* m.allowPubkey(A, "")
      expect(seen).toEqual(["blockedIps", "blockedIps", "relayInfo"])
      expect(m.relayInfo()).toEqual({ name: "Renamed", description: defaults().description, icon: "" })
      expect(m.allowListActive()).toBe(true)
    })
  )
})
