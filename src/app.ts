/**
 * How the relay's services fit together. `relayLayer` takes the adapters
 * (store, signature verifier) as parameters so tests can swap them.
 */
import { Effect, Layer, References } from "effect"
import { Logger } from "effect"
import { RelayConfig } from "./config/RelayConfig.ts"
import type { Settings } from "./config/settings.ts"
import { AuthSessions } from "./auth/AuthSessions.ts"
import { RelayIdentity } from "./auth/RelayIdentity.ts"
import { selfDescriptionLayer } from "./discovery/SelfDescription.ts"
import { mirrorLayer } from "./client/mirror.ts"
import { streamsLayer } from "./client/streams.ts"
import { ManagementApi } from "./http/nip86.ts"
import { StatusHistory } from "./http/StatusHistory.ts"
import { tracingLayerFromEnv } from "./observability/tracing.ts"
import { Ingest } from "./ingest/Ingest.ts"
import { Groups } from "./groups/Groups.ts"
import { GroupView } from "./groups/GroupView.ts"
import { Membership } from "./membership/Membership.ts"
import { NegentropySessions } from "./negentropy/NegentropySessions.ts"
import type { SignatureVerifier } from "./verify/SignatureVerifier.ts"
import { Moderation } from "./moderation/Moderation.ts"
import { Policy } from "./policy/Policy.ts"
import { layerPolicyModules } from "./policy/modules.ts"
import { layerFromConfig as writePolicyPluginFromConfig } from "./policy/plugin/WritePolicyPlugin.ts"
import { RateLimiter } from "./policy/RateLimiter.ts"
import { Query } from "./query/Query.ts"
import { RelayServer } from "./relay/server.ts"
import type { Stores } from "./storage/layer.ts"
import { maintenanceLayer } from "./storage/Maintenance.ts"
import { Fanout } from "./subscriptions/Fanout.ts"
import { SubscriptionIndex } from "./subscriptions/SubscriptionIndex.ts"

/** The policy: the built-in rules, then the operator's modules (`policyModules`). */
const policyLayer = layerPolicyModules.pipe(Layer.provide(Policy.layer))

/** Domain services over the store and verifier ports. */
export const coreLayer = Layer.mergeAll(Ingest.layer, Query.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(Membership.layer, Groups.layer)),
  Layer.provideMerge(Fanout.layer),
  Layer.provideMerge(
    Layer.mergeAll(SubscriptionIndex.layer, policyLayer, writePolicyPluginFromConfig, AuthSessions.layer, RateLimiter.layer, NegentropySessions.layer)
  ),
  Layer.provideMerge(Layer.mergeAll(Moderation.layer, RelayIdentity.layer, GroupView.layer))
)

export const relayLayer = <E1, E2>(adapters: {
  /** The event store, the moderation store and the ClusterBus transport (one database in production): storage/layer.ts. */
  readonly store: Layer.Layer<Stores, E1, RelayConfig>
  readonly verifier: Layer.Layer<SignatureVerifier, E2, RelayConfig>
}) =>
  Layer.mergeAll(selfDescriptionLayer.pipe(Layer.provideMerge(RelayServer.layer)), maintenanceLayer(60), mirrorLayer, streamsLayer).pipe(
    Layer.provideMerge(Layer.mergeAll(ManagementApi.layer, StatusHistory.layer)),
    Layer.provideMerge(coreLayer),
    Layer.provideMerge(Layer.mergeAll(adapters.store, adapters.verifier)),
    Layer.provide(Layer.mergeAll(loggingFromConfig, tracingLayerFromEnv(process.env)))
  )

const LEVELS = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
  none: "None"
} as const

/**
 * Effect's logger, readable or JSON lines, with the configured minimum level; `stderr` for the
 * tools whose stdout is their output (export, import).
 */
export const loggingLayer = (s: Settings, stderr = false) =>
  Layer.mergeAll(
    Logger.layer([
      stderr
        ? Logger.withConsoleError(s.logFormat === "json" ? Logger.formatJson : Logger.formatLogFmt)
        : s.logFormat === "json"
          ? Logger.consoleJson
          : Logger.consoleLogFmt
    ]),
    Layer.succeed(References.MinimumLogLevel, LEVELS[s.logLevel as keyof typeof LEVELS])
  )

export const loggingFromConfig = Layer.unwrap(Effect.map(RelayConfig, loggingLayer))
