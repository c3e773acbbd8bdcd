/**
 * Fanout: hands an accepted event to every matching live subscription. Today
 * that is the local SubscriptionIndex; a cluster transport would publish to
 * other nodes here as well.
 */
import { Context, Effect, Layer, Metric } from "effect"
import type { NostrEvent } from "../nostr/index.ts"
import { fanoutDeliveries } from "../observability/metrics.ts"
import { SubscriptionIndex } from "./SubscriptionIndex.ts"

export class Fanout extends Context.Service<
  Fanout,
  { readonly publish: (event: NostrEvent) => Effect.Effect<number> }
>()("parrhesia/subscriptions/Fanout") {
  static readonly layer = Layer.effect(
    Fanout,
    Effect.gen(function* () {
      const index = yield* SubscriptionIndex
      return Fanout.of({
        publish: (event) =>
          Effect.suspend(() => {
            const n = index.publish(event)
            return n === 0 ? Effect.succeed(0) : Effect.as(Metric.update(fanoutDeliveries, n), n)
          })
      })
    })
  )
}
