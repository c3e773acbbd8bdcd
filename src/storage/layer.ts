/** Picks the EventStore adapter named by the `store` setting. */
import { Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { layerMemory } from "./memory/MemoryEventStore.ts"
import { layerFromConfig as layerPostgres } from "./postgres/layer.ts"

export const storeFromConfig = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    return config.store === "memory" ? layerMemory : layerPostgres
  })
)
