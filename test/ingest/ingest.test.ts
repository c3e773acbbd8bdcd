/**
 * The Ingest pipeline with instrumented adapters: what reaches the verifier,
 * the store and the fanout for each kind of EVENT, and how failures become
 * OK answers.
 */
import { ClusterBus } from "../../src/cluster/ClusterBus.ts"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import { Groups } from "../../src/groups/Groups.ts"
import { GroupView } from "../../src/groups/GroupView.ts"
import { Ingest } from "../../src/ingest/Ingest.ts"
import { SignatureVerifier, verifyNoble } from "../../src/verify/SignatureVerifier.ts"
import { RelayIdentity } from "../../src/auth/RelayIdentity.ts"
import { Membership } from "../../src/membership/Membership.ts"
import { Moderation } from "../../src/moderation/Moderation.ts"
import { Policy, type RequestContext } from "../../src/policy/Policy.ts"
import { layerMemoryGroups } from "../../src/storage/memory/MemoryGroupStore.ts"
import { layerMemoryModeration } from "../../src/storage/memory/MemoryModerationStore.ts"
import { EventStore, StoreError, type EventStoreShape } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { Fanout } from "../../src/subscriptions/Fanout.ts"
import { SubscriptionIndex } from "../../src/subscriptions/SubscriptionIndex.ts"
import { makeEvent, newKey } from "../support/nostr.ts"

const ctx: RequestContext = { connectionId: 1, ip: "127.0.0.1", authenticated: new Set() }
const now = () => Math.floor(Date.now() / 1000)

interface Probe {
  verified: Array<string>
  stored: Array<string>
  delivered: Array<string>
  failStore: boolean
}

const setup = () => {
  const probe: Probe = { verified: [], stored: [], delivered: [], failStore: false }
  const memory = makeMemoryEventStore()
  const store: EventStoreShape = {
    ...memory,
    put: (e) =>
      probe.failStore
        ? Effect.fail(new StoreError({ message: "disk on fire" }))
        : Effect.tap(memory.put(e), () => Effect.sync(() => probe.stored.push(e.id)))
  }
  const verifier = SignatureVerifier.of({
    verify: (e) => Effect.sync(() => (probe.verified.push(e.id), verifyNoble(e))),
    verifyBatch: (es) => Effect.sync(() => es.map(verifyNoble))
  })
  const layer = Ingest.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Membership.layer, Groups.layer)),
    Layer.provideMerge(RelayIdentity.layer),
    Layer.provideMerge(Fanout.layer),
    Layer.provide(Layer.succeed(ClusterBus, ClusterBus.local)),
    Layer.provideMerge(Layer.mergeAll(SubscriptionIndex.layer, Policy.layer)),
    Layer.provideMerge(Layer.mergeAll(Moderation.layer, GroupView.layer)),
    Layer.provideMerge(Layer.mergeAll(layerMemoryModeration, layerMemoryGroups)),
    Layer.provideMerge(Layer.mergeAll(Layer.succeed(EventStore, store), Layer.succeed(SignatureVerifier, verifier))),
    Layer.provideMerge(RelayConfig.layerWith({ maxContentLength: 100 }))
  )
  /** Subscribes to everything so fanout deliveries are visible. */
  const watch = Effect.gen(function* () {
    const index = yield* SubscriptionIndex
    index.add({ connectionId: 9, ip: "127.0.0.1", subId: "all", filters: [{}], deliver: (e) => void probe.delivered.push(e.id) })
  })
  return { probe, layer, watch }
}

const handle = (raw: unknown) =>
  Effect.gen(function* () {
    const ingest = yield* Ingest
    return yield* ingest.handle(raw, ctx)
  })

describe("Ingest", () => {
  it.live("a new event is verified, stored, fanned out once and answered OK true", () => {
    const { probe, layer, watch } = setup()
    return Effect.gen(function* () {
      yield* watch
      const e = makeEvent({ created_at: now() })
      expect(yield* handle(e)).toMatchObject({ id: e.id, accepted: true, message: "", result: "accepted" })
      expect(probe).toMatchObject({ verified: [e.id], stored: [e.id], delivered: [e.id] })
    }).pipe(Effect.provide(layer))
  })

  it.live("a resent regular event is a duplicate: not verified, stored or fanned out again", () => {
    const { probe, layer, watch } = setup()
    return Effect.gen(function* () {
      yield* watch
      const e = makeEvent({ created_at: now() })
      yield* handle(e)
      const again = yield* handle(e)
      expect(again).toMatchObject({ accepted: true, result: "duplicate" })
      expect(again.message).toMatch(/^duplicate: /)
      expect(probe.verified).toEqual([e.id])
      expect(probe.stored).toEqual([e.id])
      expect(probe.delivered).toEqual([e.id])
    }).pipe(Effect.provide(layer))
  })

  it.live("a resent, since superseded replaceable version is refused duplicate: and not fanned out", () => {
    const { probe, layer, watch } = setup()
    return Effect.gen(function* () {
      yield* watch
      const k = newKey()
      const v1 = makeEvent({ kind: 0, created_at: now() - 10 }, k)
      const v2 = makeEvent({ kind: 0, created_at: now() }, k)
      yield* handle(v1)
      yield* handle(v2)
      const r = yield* handle(v1)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^duplicate: /)
      expect(probe.delivered).toEqual([v1.id, v2.id])
    }).pipe(Effect.provide(layer))
  })

  it.live("limits, the id and the signature are checked before the store; a forged event is never stored", () => {
    const { probe, layer, watch } = setup()
    return Effect.gen(function* () {
      yield* watch
      const e = makeEvent({ created_at: now() })
      const tooLong = makeEvent({ content: "x".repeat(101), created_at: now() })
      const r1 = yield* handle(tooLong)
      expect(r1.message).toMatch(/^invalid: /)
      const r2 = yield* handle({ ...e, content: "changed" })
      expect(r2).toMatchObject({ id: e.id, accepted: false })
      expect(r2.message).toMatch(/^invalid: /)
      const r3 = yield* handle({ ...e, sig: makeEvent().sig })
      expect(r3).toMatchObject({ id: e.id, accepted: false })
      expect(r3.message).toMatch(/^invalid: /)
      // Limits and the id check are cheap and come first: only the forged signature reached the verifier.
      expect(probe.verified).toEqual([e.id])
      expect(probe.stored).toEqual([])
      expect(probe.delivered).toEqual([])
      // The genuine event is not mistaken for a duplicate of the forged one.
      expect(yield* handle(e)).toMatchObject({ accepted: true, message: "" })
    }).pipe(Effect.provide(layer))
  })

  it.live("an ephemeral event is fanned out and accepted but never stored", () => {
    const { probe, layer, watch } = setup()
    return Effect.gen(function* () {
      yield* watch
      const e = makeEvent({ kind: 20000, created_at: now() })
      expect(yield* handle(e)).toMatchObject({ accepted: true, message: "" })
      expect(probe.stored).toEqual([])
      expect(probe.delivered).toEqual([e.id])
    }).pipe(Effect.provide(layer))
  })

  it.live("a storage failure is OK false error:, not fanned out, and a retry can succeed", () => {
    const { probe, layer, watch } = setup()
    return Effect.gen(function* () {
      yield* watch
      const e = makeEvent({ created_at: now() })
      probe.failStore = true
      const r = yield* handle(e)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^error: /)
      expect(probe.delivered).toEqual([])
      probe.failStore = false
      expect(yield* handle(e)).toMatchObject({ accepted: true, message: "" })
      expect(probe.delivered).toEqual([e.id])
    }).pipe(Effect.provide(layer))
  })

  it.live("a malformed event is invalid: with its id when it has a string id, else with an empty id", () => {
    const { layer } = setup()
    return Effect.gen(function* () {
      const e = makeEvent({ created_at: now() })
      const withId = yield* handle({ ...e, kind: "1" })
      expect(withId).toMatchObject({ id: e.id, accepted: false })
      expect(withId.message).toMatch(/^invalid: /)
      const noId = yield* handle({ kind: 1 })
      expect(noId).toMatchObject({ id: "", accepted: false })
      expect((yield* handle("nope")).message).toMatch(/^invalid: /)
    }).pipe(Effect.provide(layer))
  })
})
