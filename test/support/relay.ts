/**
 * Starts a real relay (real sockets) in-process on a free port, for
 * end-to-end tests. The store and verifier default to memory and noble.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { useWebSocketImplementation } from "nostr-tools/relay"
import WebSocket from "ws"
import { relayLayer } from "../../src/app.ts"
import { defaults, RelayConfig } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { layerNoble, type SignatureVerifier } from "../../src/verify/SignatureVerifier.ts"
import { RelayServer } from "../../src/relay/server.ts"
import { ClusterBus } from "../../src/cluster/ClusterBus.ts"
import type { EventStore } from "../../src/storage/EventStore.ts"
import { layerMemoryStores, type Stores } from "../../src/storage/layer.ts"
import { layerMemoryStreams } from "../../src/storage/memory/MemoryStreamStore.ts"
import { layerMemoryGroups } from "../../src/storage/memory/MemoryGroupStore.ts"
import { layerMemoryModeration } from "../../src/storage/memory/MemoryModerationStore.ts"

// nostr-tools needs a WebSocket implementation on Node.
useWebSocketImplementation(WebSocket)

export interface TestRelay {
  readonly url: string
  readonly port: number
  readonly httpUrl: string
  /** Graceful shutdown (as on SIGTERM). */
  readonly close: () => Promise<void>
}

export const startRelay = async (
  overrides: Partial<Settings> = {},
  adapters: {
    /** Both stores (e.g. storeFromConfig); default: both in memory. */
    readonly stores?: Layer.Layer<Stores, unknown, RelayConfig>
    /** An event store alone (instrumented ones); moderation and groups are then kept in memory. */
    readonly store?: Layer.Layer<EventStore, unknown, RelayConfig>
    readonly verifier?: Layer.Layer<SignatureVerifier, unknown, RelayConfig>
  } = {}
): Promise<TestRelay> => {
  const settings: Settings = { ...defaults(), host: "127.0.0.1", port: 0, logLevel: "warn", warmUpMessages: 0, ...overrides }
  const stores = adapters.stores ?? (adapters.store ? Layer.mergeAll(adapters.store, layerMemoryModeration, layerMemoryGroups, layerMemoryStreams, ClusterBus.layerLocal) : layerMemoryStores)
  const layer = relayLayer({ store: stores, verifier: adapters.verifier ?? layerNoble }).pipe(
    Layer.provide(Layer.succeed(RelayConfig, RelayConfig.of(settings)))
  )
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const server = Context.get(context, RelayServer)
  return {
    url: server.url,
    port: server.port,
    httpUrl: server.url.replace(/^ws/, "http"),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
