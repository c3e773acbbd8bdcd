/**
 * The streams on the status page (/stats `streams`): every stream the relay
 * is meant to run (the `streams` setting and those added through NIP-86,
 * with their direction and pause, from StreamStore) with the state and lag
 * its metrics show in this process, then the mirror upstreams. A streams
 * service that provides its own StatusStreams (observability/streams.ts) is
 * shown as it says instead.
 */
import { Effect } from "effect"
import { RelayConfig, workerCount } from "../config/RelayConfig.ts"
import { parseStreams } from "../config/streams.ts"
import { StatusStreams, streamsFromMetrics, type StreamStatus } from "../observability/streams.ts"
import { desiredStreams, StreamStore } from "../storage/StreamStore.ts"

const DIRECTION = { down: "in", up: "out", both: "both" } as const

export const statusStreams: Effect.Effect<ReadonlyArray<StreamStatus>, never, RelayConfig | StreamStore> = Effect.gen(function* () {
  const hook = yield* StatusStreams
  const seen = yield* hook.list
  if (hook.list !== streamsFromMetrics) return seen
  const config = yield* RelayConfig
  const parsed = parseStreams(config.streams)
  // The store unavailable: the configured streams still show.
  const rows = yield* Effect.orElseSucceed((yield* StreamStore).load, () => [])
  const views = desiredStreams("error" in parsed ? [] : parsed, rows)
  if (views.length === 0) return seen
  const byName = new Map(seen.map((s) => [s.name, s]))
  const streams = views.map((v): StreamStatus => {
    const running = byName.get(v.url)
    byName.delete(v.url)
    return {
      name: v.url,
      direction: DIRECTION[v.spec.direction],
      // Each stream runs in one process: with workers, maybe another one than this.
      state: v.paused ? "paused" : (running?.state ?? (workerCount(config) > 1 ? "on another worker" : "starting")),
      lagSeconds: v.paused ? null : (running?.lagSeconds ?? null)
    }
  })
  // What remains: the mirror upstreams.
  return [...streams, ...byName.values()]
})
