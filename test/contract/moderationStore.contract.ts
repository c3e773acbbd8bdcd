/**
 * The ModerationStore contract: one suite for every adapter. `makeLayer` is
 * called per test and must give an EMPTY store; `reopen` (when the adapter
 * persists) gives a second store over the same data, as after a restart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { MODERATION_LISTS, ModerationStore, type ModerationStoreShape } from "../../src/storage/ModerationStore.ts"

type Body = (store: ModerationStoreShape) => Effect.Effect<void, unknown>

export const moderationStoreContract = (
  name: string,
  makeLayer: () => Layer.Layer<ModerationStore, unknown>,
  reopen?: () => Layer.Layer<ModerationStore, unknown>
) =>
  describe(`ModerationStore contract: ${name}`, () => {
    const test = (title: string, body: Body) =>
      it.live(title, () => Effect.flatMap(ModerationStore, body).pipe(Effect.provide(makeLayer())))

    test("starts empty", (store) =>
      Effect.gen(function* () {
        const data = yield* store.load
        for (const l of MODERATION_LISTS) expect(data.lists[l]).toEqual([])
        expect(data.relayInfo).toEqual({})
      }))

    test("adds, re-adds with a new reason, and removes entries per list", (store) =>
      Effect.gen(function* () {
        yield* store.add("bannedPubkeys", "a".repeat(64), "spam")
        yield* store.add("bannedPubkeys", "b".repeat(64), "")
        yield* store.add("bannedPubkeys", "a".repeat(64), "spam, again")
        yield* store.add("blockedIps", "10.0.0.0/8", "abuse")
        yield* store.add("allowedKinds", "1", "")
        const data = yield* store.load
        expect([...data.lists.bannedPubkeys].sort((x, y) => x.value.localeCompare(y.value))).toEqual([
          { value: "a".repeat(64), reason: "spam, again" },
          { value: "b".repeat(64), reason: "" }
        ])
        expect(data.lists.blockedIps).toEqual([{ value: "10.0.0.0/8", reason: "abuse" }])
        expect(data.lists.allowedKinds).toEqual([{ value: "1", reason: "" }])
        // The same value in another list is another entry.
        expect(data.lists.allowedPubkeys).toEqual([])
        expect(yield* store.remove("bannedPubkeys", "a".repeat(64))).toBe(true)
        expect(yield* store.remove("bannedPubkeys", "a".repeat(64))).toBe(false)
        expect(yield* store.remove("allowedPubkeys", "b".repeat(64))).toBe(false)
        expect((yield* store.load).lists.bannedPubkeys).toEqual([{ value: "b".repeat(64), reason: "" }])
      }))

    test("keeps relay information overrides, the last one winning", (store) =>
      Effect.gen(function* () {
        yield* store.setRelayInfo("name", "first")
        yield* store.setRelayInfo("name", "second")
        yield* store.setRelayInfo("icon", "https://example.com/i.png")
        expect((yield* store.load).relayInfo).toEqual({ name: "second", icon: "https://example.com/i.png" })
      }))

    if (reopen !== undefined) {
      it.live("keeps everything across a restart", () =>
        Effect.gen(function* () {
          yield* Effect.flatMap(ModerationStore, (s) =>
            Effect.andThen(s.add("bannedEvents", "c".repeat(64), "illegal"), s.setRelayInfo("description", "kept"))
          ).pipe(Effect.provide(makeLayer()))
          const data = yield* Effect.flatMap(ModerationStore, (s) => s.load).pipe(Effect.provide(reopen()))
          expect(data.lists.bannedEvents).toEqual([{ value: "c".repeat(64), reason: "illegal" }])
          expect(data.relayInfo).toEqual({ description: "kept" })
        })
      )
    }
  })
