/** NIP-43 invites under TestClock: a code is claimed once and only before it expires. */
import { ClusterBus } from "../../src/cluster/ClusterBus.ts"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { RelayIdentity } from "../../src/auth/RelayIdentity.ts"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import { GroupView } from "../../src/groups/GroupView.ts"
import { Membership } from "../../src/membership/Membership.ts"
import { Moderation } from "../../src/moderation/Moderation.ts"
import { layerMemoryStores } from "../../src/storage/layer.ts"
import { Fanout } from "../../src/subscriptions/Fanout.ts"
import { SubscriptionIndex } from "../../src/subscriptions/SubscriptionIndex.ts"
import { makeEvent, newKey, T0 } from "../support/nostr.ts"

const layer = () =>
  Membership.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Moderation.layer, GroupView.layer, RelayIdentity.layer, Fanout.layer.pipe(Layer.provideMerge(SubscriptionIndex.layer), Layer.provide(Layer.succeed(ClusterBus, ClusterBus.local))))),
    Layer.provideMerge(layerMemoryStores),
    Layer.provideMerge(RelayConfig.layerWith({ nip43: true, inviteTtlSeconds: 3600, store: "memory" }))
  )

const outcome = <A>(eff: Effect.Effect<A, { readonly prefix: string; readonly message: string }>) =>
  Effect.map(Effect.result(eff), (r) => (r._tag === "Success" ? String(r.success) : `${r.failure.prefix}: ${r.failure.message}`))

describe("Membership invites", () => {
  it.effect("are claimed once, before they expire; join requests must be dated about now", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(T0 * 1000)
      const m = yield* Membership
      const join = (claim: string, created_at = T0 + 3601) => makeEvent({ kind: 28934, created_at, tags: [["-"], ["claim", claim]] }, newKey())
      const fresh = yield* m.createInvite
      const stale = yield* m.createInvite
      yield* TestClock.setTime((T0 + 3601) * 1000)
      expect(yield* outcome(m.handleRequest(join(stale)))).toMatch(/^restricted: .*expired/)
      // An expired claim is used up too.
      expect(yield* outcome(m.handleRequest(join(stale)))).toMatch(/^restricted: .*invalid/)
      yield* TestClock.setTime(T0 * 1000)
      expect(yield* outcome(m.handleRequest(join(fresh, T0)))).toMatch(/^info: welcome/)
      expect(yield* outcome(m.handleRequest(join(fresh, T0)))).toMatch(/^restricted: .*invalid/)
      expect(yield* outcome(m.handleRequest(join(yield* m.createInvite, T0 - 301)))).toMatch(/^invalid: /)
      expect(m.members().length).toBe(1)
    }).pipe(Effect.provide(layer()))
  )
})
