/**
 * Fanout: hands an accepted event to every matching live subscription: the
 * local SubscriptionIndex, and through the ClusterBus the other processes
 * sharing the store (which hand what they receive to their own index). Only
 * ephemeral events go on the bus from here: a stored event reaches the other
 * processes with the commit that stored it (the store's writer sends it).
 *
 * `onAccepted` listeners (the `up` streams, src/client/streams.ts) see every
 * event this relay accepted, on this process or another one, once: stored or
 * ephemeral, whatever subscriptions match.
 */
import { Context, Effect, Layer, Metric } from "effect"
import { isEphemeral, type NostrEvent } from "../nostr/index.ts"
import { fanoutDeliveries } from "../observability/metrics.ts"
import { ClusterBus } from "../cluster/ClusterBus.ts"
import { SubscriptionIndex } from "./SubscriptionIndex.ts"

export class Fanout extends Context.Service<
  Fanout,
  {
    readonly publish: (event: NostrEvent) => Effect.Effect<number>
    /** Calls `listener` with every event accepted by any process of the relay; returns the unsubscribe. Listeners must not block. */
    readonly onAccepted: (listener: (event: NostrEvent) => void) => () => void
  }
>()("parrhesia/subscriptions/Fanout") {
  static readonly layer = Layer.effect(
    Fanout,
    Effect.gen(function* () {
      const index = yield* SubscriptionIndex
      const bus = yield* ClusterBus
      const listeners = new Set<(event: NostrEvent) => void>()
      const tell = (event: NostrEvent) => {
        for (const l of listeners) l(event)
      }
      bus.onRemote((event) => {
        if (listeners.size > 0) tell(event)
        const n = index.publish(event)
        if (n > 0) Effect.runFork(Metric.update(fanoutDeliveries, n))
      })
      return Fanout.of({
        publish: (event) =>
          Effect.suspend(() => {
            if (isEphemeral(event.kind)) bus.publish(event)
            if (listeners.size > 0) tell(event)
            const n = index.publish(event)
            return n === 0 ? Effect.succeed(0) : Effect.as(Metric.update(fanoutDeliveries, n), n)
          }),
        onAccepted: (listener) => {
          listeners.add(listener)
          return () => void listeners.delete(listener)
        }
      })
    })
  )
}
