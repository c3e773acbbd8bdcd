/** Picks the storage adapters named by the `store` setting: the event store and the moderation store, on one backend. */
import { Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { EventStore, StoreError } from "./EventStore.ts"
import { layerMemory } from "./memory/MemoryEventStore.ts"
import { layerMemoryModeration } from "./memory/MemoryModerationStore.ts"
import type { ModerationStore } from "./ModerationStore.ts"
import { layerWithInternals } from "./postgres/layer.ts"
import { layerPostgresModeration } from "./postgres/PostgresModerationStore.ts"

/** Both stores in memory (tests, `store: memory`). */
export const layerMemoryStores: Layer.Layer<EventStore | ModerationStore> = Layer.mergeAll(layerMemory, layerMemoryModeration)

/** Both stores on PostgreSQL (embedded unless databaseUrl is set); one set of pools. */
export const layerPostgresStores: Layer.Layer<EventStore | ModerationStore, StoreError, RelayConfig> = layerPostgresModeration.pipe(
  Layer.provideMerge(layerWithInternals)
)

export const storeFromConfig: Layer.Layer<EventStore | ModerationStore, StoreError, RelayConfig> = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    return config.store === "memory" ? layerMemoryStores : layerPostgresStores
  })
)
