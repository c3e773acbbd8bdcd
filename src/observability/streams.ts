/**
 * The streams the status page lists (GET /stats `streams`): each with its
 * state and lag. A streams service shows its own by providing
 * `StatusStreams` (`Layer.succeed(StatusStreams, { list })`); until one does,
 * they are read from the metrics of this process: the mirror upstreams
 * (`mirrorUpstreams`: parrhesia_mirror_connected, _disconnects_total,
 * _lag_seconds) and the streams (parrhesia_stream_connected, _restarts_total,
 * _lag_seconds and _events_total by direction).
 */
import { Context, Effect, Metric } from "effect"

export interface StreamStatus {
  /** What the operator knows it by: the other relay's URL, or the stream's name. */
  readonly name: string
  /** "in": its events come here; "out": ours go there; "both"; "–" while not known. */
  readonly direction: "in" | "out" | "both" | "–"
  /** A word or two: "connected", "connecting", "reconnecting", "catching up", "paused"... */
  readonly state: string
  /** How far behind it is, in seconds; null while not known. */
  readonly lagSeconds: number | null
}

export interface StatusStreamsShape {
  readonly list: Effect.Effect<ReadonlyArray<StreamStatus>>
}

const numberOf = (state: unknown, key: "value" | "count"): number => Number((state as Record<string, number | bigint | undefined>)[key] ?? 0)

const stateOf = (connected: number, retried: number) => (connected === 1 ? "connected" : retried > 0 ? "reconnecting" : "connecting")

/** The mirror upstreams and streams of this process, from their metrics, in the order they were first seen. */
export const streamsFromMetrics: Effect.Effect<ReadonlyArray<StreamStatus>> = Effect.map(Metric.snapshot, (snapshots) => {
  const mirrors = new Map<string, { connected: number; retried: number; lag: number | null }>()
  const streams = new Map<string, { connected: number; retried: number; lag: number | null; down: boolean; up: boolean }>()
  const mirror = (name: string) => mirrors.get(name) ?? mirrors.set(name, { connected: 0, retried: 0, lag: null }).get(name)!
  const stream = (name: string) => streams.get(name) ?? streams.set(name, { connected: 0, retried: 0, lag: null, down: false, up: false }).get(name)!
  for (const s of snapshots) {
    const upstream = s.attributes?.["upstream"]
    const name = s.attributes?.["stream"]
    if (upstream !== undefined) {
      if (s.id === "parrhesia_mirror_connected") mirror(upstream).connected = numberOf(s.state, "value")
      else if (s.id === "parrhesia_mirror_disconnects_total") mirror(upstream).retried = numberOf(s.state, "count")
      else if (s.id === "parrhesia_mirror_lag_seconds") mirror(upstream).lag = numberOf(s.state, "value")
    } else if (name !== undefined) {
      const direction = s.attributes?.["direction"]
      if (s.id === "parrhesia_stream_connected") stream(name).connected = numberOf(s.state, "value")
      else if (s.id === "parrhesia_stream_restarts_total") stream(name).retried = numberOf(s.state, "count")
      else if (s.id === "parrhesia_stream_lag_seconds" || s.id === "parrhesia_stream_events_total") {
        const st = stream(name)
        if (direction === "down") st.down = true
        if (direction === "up") st.up = true
        if (s.id === "parrhesia_stream_lag_seconds") st.lag = Math.max(st.lag ?? 0, numberOf(s.state, "value"))
      }
    }
  }
  return [
    ...[...mirrors].map(([name, m]) => ({ name, direction: "in" as const, state: stateOf(m.connected, m.retried), lagSeconds: m.lag })),
    ...[...streams].map(([name, st]) => ({
      name,
      direction: st.down && st.up ? ("both" as const) : st.down ? ("in" as const) : st.up ? ("out" as const) : ("–" as const),
      state: stateOf(st.connected, st.retried),
      lagSeconds: st.lag
    }))
  ]
})

export const StatusStreams = Context.Reference<StatusStreamsShape>("parrhesia/observability/StatusStreams", {
  defaultValue: () => ({ list: streamsFromMetrics })
})
