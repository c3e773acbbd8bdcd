/**
 * Periodic storage upkeep while the relay runs: removing events whose NIP-40
 * expiration has passed, and events past their kind's retention age (the
 * `retention` setting). Runs as a scoped fiber; a failed run is logged and
 * retried at the next interval.
 */
import { Effect, Layer, Schedule } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { nowSeconds } from "../nostr/index.ts"
import { EventStore } from "./EventStore.ts"
import { removesAnything, retentionPolicyOf } from "../config/retention.ts"

export const purgeExpiredOnce = Effect.gen(function* () {
  const store = yield* EventStore
  const now = yield* nowSeconds
  const removed = yield* store.purgeExpired(now)
  if (removed > 0) yield* Effect.logDebug("purged expired events").pipe(Effect.annotateLogs({ removed }))
  return removed
})

/** Applies the configured retention once; 0 when the setting keeps everything. */
export const applyRetentionOnce = Effect.gen(function* () {
  const config = yield* RelayConfig
  const policy = retentionPolicyOf(config)
  if ("error" in policy || !removesAnything(policy)) return 0
  const store = yield* EventStore
  const now = yield* nowSeconds
  const removed = yield* store.purgeByRetention(policy, now)
  if (removed > 0) yield* Effect.logInfo("retention removed events").pipe(Effect.annotateLogs({ removed }))
  return removed
})

export const maintenanceLayer = (intervalSeconds: number) =>
  Layer.effectDiscard(
    Effect.forkScoped(
      Effect.andThen(
        purgeExpiredOnce.pipe(Effect.catch((e) => Effect.logWarning("expired-event purge failed", e.message))),
        applyRetentionOnce.pipe(Effect.catch((e) => Effect.logWarning("retention run failed", e.message)))
      ).pipe(Effect.repeat(Schedule.spaced(`${intervalSeconds} seconds`)), Effect.delay(`${intervalSeconds} seconds`))
    )
  )
