/** Picks the EventStore adapter named by the `store` setting. */
import { Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { layerMemory } from "./memory/MemoryEventStore.ts"

export const storeFromConfig = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    switch (config.store) {
      case "memory":
        return layerMemory
      default:
        return yield* Effect.die(new Error(`store "${config.store}" is not available in this build`))
    }
  })
)
