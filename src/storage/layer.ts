/**
 * Picks the storage adapters named by the `store` setting: the event store,
 * the moderation store, the group store and the ClusterBus transport, on one backend (the bus
 * rides on the store's database, so the port in cluster/ knows no adapter).
 */
import { Effect, Layer } from "effect"
import { ClusterBus } from "../cluster/ClusterBus.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { EventStore, StoreError } from "./EventStore.ts"
import type { GroupStore } from "./GroupStore.ts"
import { layerMemory } from "./memory/MemoryEventStore.ts"
import { layerMemoryGroups } from "./memory/MemoryGroupStore.ts"
import { layerMemoryModeration } from "./memory/MemoryModerationStore.ts"
import { layerMemoryStreams } from "./memory/MemoryStreamStore.ts"
import type { ModerationStore } from "./ModerationStore.ts"
import { layerPostgresClusterBus } from "./postgres/PostgresClusterBus.ts"
import { layerPostgresGroups } from "./postgres/PostgresGroupStore.ts"
import { layerWithInternals } from "./postgres/layer.ts"
import { layerPostgresModeration } from "./postgres/PostgresModerationStore.ts"
import { layerPostgresStreams } from "./postgres/PostgresStreamStore.ts"
import type { StreamStore } from "./StreamStore.ts"
import { withHotWindow } from "./withHotWindow.ts"

/** What a storage backend provides to the relay. */
export type Stores = EventStore | ModerationStore | GroupStore | StreamStore | ClusterBus

/** Both stores in memory (tests, `store: memory`); one process, so a local bus. */
export const layerMemoryStores: Layer.Layer<Stores> = Layer.mergeAll(layerMemory, layerMemoryModeration, layerMemoryGroups, layerMemoryStreams, ClusterBus.layerLocal)

/**
 * Both stores and the LISTEN/NOTIFY bus on PostgreSQL (embedded unless databaseUrl is set); one set of pools;
 * the hot window (`hotWindowBytes`) in front of the event store.
 */
export const layerPostgresStores: Layer.Layer<Stores, StoreError, RelayConfig> = withHotWindow(
  Layer.mergeAll(layerPostgresModeration, layerPostgresGroups, layerPostgresStreams, layerPostgresClusterBus).pipe(Layer.provideMerge(layerWithInternals))
)

export const storeFromConfig: Layer.Layer<Stores, StoreError, RelayConfig> = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    return config.store === "memory" ? layerMemoryStores : layerPostgresStores
  })
)

/**
 * The PostgreSQL stores of an operator tool (`parrhesia export`, `import`): no hot window (a tool
 * answers no REQ); the cluster bus only when `notify`, i.e. when a relay may be listening, so what
 * the tool stores reaches that relay's subscribers and hot window with each commit. On an embedded
 * server the tool started itself nobody listens, and notifying every event of a bulk import would
 * about triple PostgreSQL's work for nothing.
 */
export const layerToolStores = (notify: boolean): Layer.Layer<Stores, StoreError, RelayConfig> =>
  Layer.mergeAll(layerPostgresModeration, layerPostgresGroups, layerPostgresStreams, notify ? layerPostgresClusterBus : ClusterBus.layerLocal).pipe(
    Layer.provideMerge(layerWithInternals)
  )
