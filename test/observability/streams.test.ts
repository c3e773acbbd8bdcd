/**
 * The status page's streams, as read from the metrics while no streams
 * service provides StatusStreams: mirror upstreams (in) and streams (their
 * direction from the directions their metrics name), each with its state and
 * lag; a provided StatusStreams replaces the reading.
 */
import { Effect, Metric } from "effect"
import { describe, expect, it } from "vitest"
import * as M from "../../src/observability/metrics.ts"
import { StatusStreams, type StreamStatus } from "../../src/observability/streams.ts"

const streamGauge = (id: string, attributes: Record<string, string>) => Metric.gauge(id, { attributes })
const streamCounter = (id: string, attributes: Record<string, string>) => Metric.counter(id, { attributes })

describe("StatusStreams", () => {
  it("lists the mirror upstreams and the streams from their metrics", async () => {
    const list = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Metric.update(M.mirrorConnected("wss://up.example"), 1)
        yield* Metric.update(M.mirrorLagSeconds("wss://up.example"), 2)
        yield* Metric.update(M.mirrorConnected("wss://down.example"), 0)
        yield* Metric.update(M.mirrorReconnects("wss://down.example"), 1)
        yield* Metric.update(streamGauge("parrhesia_stream_connected", { stream: "wss://both.example" }), 1)
        yield* Metric.update(streamGauge("parrhesia_stream_lag_seconds", { stream: "wss://both.example", direction: "down" }), 3)
        yield* Metric.update(streamGauge("parrhesia_stream_lag_seconds", { stream: "wss://both.example", direction: "up" }), 5)
        yield* Metric.update(streamGauge("parrhesia_stream_connected", { stream: "wss://out.example" }), 0)
        yield* Metric.update(streamCounter("parrhesia_stream_events_total", { stream: "wss://out.example", direction: "up", source: "live", result: "accepted" }), 1)
        yield* Metric.update(streamGauge("parrhesia_stream_connected", { stream: "wss://new.example" }), 0)
        return yield* (yield* StatusStreams).list
      })
    )
    expect(list).toEqual([
      { name: "wss://up.example", direction: "in", state: "connected", lagSeconds: 2 },
      { name: "wss://down.example", direction: "in", state: "reconnecting", lagSeconds: null },
      { name: "wss://both.example", direction: "both", state: "connected", lagSeconds: 5 },
      { name: "wss://out.example", direction: "out", state: "connecting", lagSeconds: null },
      { name: "wss://new.example", direction: "–", state: "connecting", lagSeconds: null }
    ] satisfies ReadonlyArray<StreamStatus>)
  })

  it("is replaced by a streams service's own list", async () => {
    const own: ReadonlyArray<StreamStatus> = [{ name: "wss://x.example", direction: "both", state: "paused", lagSeconds: 0 }]
    const read = Effect.gen(function* () {
      return yield* (yield* StatusStreams).list
    })
    const list = await Effect.runPromise(read.pipe(Effect.provideService(StatusStreams, { list: Effect.succeed(own) })))
    expect(list).toEqual(own)
  })
})
