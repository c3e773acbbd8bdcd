/**
 * The status page's streams: the configured and the NIP-86 ones (StreamStore)
 * with their direction and pause, the state and lag their metrics show, then
 * the mirror upstreams; a streams service's own StatusStreams replaces it all.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import { statusStreams } from "../../src/http/statusStreams.ts"
import * as M from "../../src/observability/metrics.ts"
import { StatusStreams } from "../../src/observability/streams.ts"
import { layerMemoryStreams } from "../../src/storage/memory/MemoryStreamStore.ts"
import { StreamStore } from "../../src/storage/StreamStore.ts"

const config = (workers: string) =>
  RelayConfig.layerWith({
    workers,
    streams: JSON.stringify([
      { url: "wss://both.example", direction: "both" },
      { url: "wss://paused.example", direction: "up" },
      { url: "wss://quiet.example", direction: "down" }
    ])
  })

describe("status page streams", () => {
  it.effect("lists the configured and the runtime streams with their state and lag, then the mirror upstreams", () =>
    Effect.gen(function* () {
      const store = yield* StreamStore
      yield* store.setPaused("wss://paused.example", true)
      yield* store.add({ url: "wss://runtime.example", direction: "down", filter: "", authKey: "" })
      yield* Metric.update(M.streamConnected("wss://both.example"), 1)
      yield* Metric.update(M.streamLagSeconds("wss://both.example", "down"), 4)
      yield* Metric.update(M.streamConnected("wss://paused.example"), 0)
      yield* Metric.update(M.streamConnected("wss://runtime.example"), 0)
      yield* Metric.update(M.streamRestarts("wss://runtime.example"), 1)
      yield* Metric.update(M.mirrorConnected("wss://mirrored.example"), 1)
      expect(yield* statusStreams).toEqual([
        { name: "wss://both.example", direction: "both", state: "connected", lagSeconds: 4 },
        { name: "wss://paused.example", direction: "out", state: "paused", lagSeconds: null },
        { name: "wss://quiet.example", direction: "in", state: "starting", lagSeconds: null },
        { name: "wss://runtime.example", direction: "in", state: "reconnecting", lagSeconds: null },
        { name: "wss://mirrored.example", direction: "in", state: "connected", lagSeconds: null }
      ])
      // With workers, a stream without metrics here may run in another process.
      const elsewhere = yield* statusStreams.pipe(Effect.provide(config("2")))
      expect(elsewhere.find((s) => s.name === "wss://quiet.example")?.state).toBe("on another worker")
      // A streams service's own list is shown as it is.
      const own = [{ name: "wss://x.example", direction: "both" as const, state: "catching up", lagSeconds: 12 }]
      expect(yield* statusStreams.pipe(Effect.provideService(StatusStreams, { list: Effect.succeed(own) }))).toEqual(own)
    }).pipe(Effect.provide(Layer.merge(config("1"), layerMemoryStreams))))
})
