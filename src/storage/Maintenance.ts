/**
 * Periodic storage upkeep while the relay runs: removing events whose NIP-40
 * expiration has passed. Runs as a scoped fiber; a failed run is logged and
 * retried at the next interval.
 */
import { Effect, Layer, Schedule } from "effect"
import { nowSeconds } from "../nostr/index.ts"
import { EventStore } from "./EventStore.ts"

export const purgeExpiredOnce = Effect.gen(function* () {
  const store = yield* EventStore
  const now = yield* nowSeconds
  const removed = yield* store.purgeExpired(now)
  if (removed > 0) yield* Effect.logDebug("purged expired events").pipe(Effect.annotateLogs({ removed }))
  return removed
})

export const maintenanceLayer = (intervalSeconds: number) =>
  Layer.effectDiscard(
    Effect.forkScoped(
      purgeExpiredOnce.pipe(
        Effect.catch((e) => Effect.logWarning("expired-event purge failed", e.message)),
        Effect.repeat(Schedule.spaced(`${intervalSeconds} seconds`)),
        Effect.delay(`${intervalSeconds} seconds`)
      )
    )
  )
