/**
 * The streams storage port (`streams`, NIP-86 addstream & co.): the streams
 * added at run time, which streams are paused, and each stream's position per
 * direction, so a restarted relay catches up from where it was rather than
 * from a guess.
 *
 * One row per remote URL. A stream from the configuration has a row only
 * once it has a position or was paused (`runtime` false); a stream added
 * through NIP-86 has `runtime` true and its spec here.
 */
import { Context, type Effect } from "effect"
import type { StoreError } from "./EventStore.ts"

export { STREAM_DIRECTIONS, type StreamDirection, type StreamSpec } from "../config/streams.ts"
import type { StreamDirection, StreamSpec } from "../config/streams.ts"

/** How far a direction has come: the newest event (by created_at) seen from (down) or sent to (up) the remote. */
export interface StreamPosition {
  readonly createdAt: number
  /** "" when the position is a checkpoint (a catch-up that ended there), not one event. */
  readonly id: string
}

export interface StoredStream {
  readonly url: string
  /** Added at run time (spec below); false: the configuration holds the spec, the row only state. */
  readonly runtime: boolean
  /** The spec of a runtime stream (direction, filter, authKey); meaningless when `runtime` is false. */
  readonly direction: StreamDirection
  readonly filter: string
  readonly authKey: string
  readonly paused: boolean
  readonly down: StreamPosition | undefined
  readonly up: StreamPosition | undefined
}

export interface StreamStoreShape {
  /** Every row, ordered by URL. */
  readonly load: Effect.Effect<ReadonlyArray<StoredStream>, StoreError>
  /** Adds a runtime stream, or replaces its spec (positions and pause are kept). */
  readonly add: (spec: StreamSpec) => Effect.Effect<void, StoreError>
  /** Removes a runtime stream with its state; false when there was none. */
  readonly remove: (url: string) => Effect.Effect<boolean, StoreError>
  /** Pauses or resumes a stream, runtime or configured. */
  readonly setPaused: (url: string, paused: boolean) => Effect.Effect<void, StoreError>
  /** Moves a direction's position forward (never back: an older position is ignored). */
  readonly advance: (url: string, direction: "down" | "up", position: StreamPosition) => Effect.Effect<void, StoreError>
  /**
   * Moves a direction's position back to `position` when it is past it (an event older than the
   * position could not be sent: the next catch-up must start before it); a direction without a
   * position keeps none.
   */
  readonly rewind: (url: string, direction: "down" | "up", position: StreamPosition) => Effect.Effect<void, StoreError>
  /**
   * Takes or renews the lease on running the stream to `url` for `owner` until `until` (unix
   * seconds): true when `owner` holds it now (it had it, nobody had it, or the holder's lease ended
   * before `now`). Every process of a relay (workers, hosts on one database) asks, so one runs each stream.
   */
  readonly claim: (url: string, owner: string, now: number, until: number) => Effect.Effect<boolean, StoreError>
  /** Gives the lease up (a stream stopped, paused or removed here), so another process need not wait for it to end. */
  readonly release: (url: string, owner: string) => Effect.Effect<void, StoreError>
}

export class StreamStore extends Context.Service<StreamStore, StreamStoreShape>()("parrhesia/storage/StreamStore") {}

/** One stream's state as the NIP-86 `liststreams` shows it. */
export interface StreamView {
  readonly url: string
  readonly direction: string
  readonly filter: string
  readonly source: "config" | "runtime"
  readonly paused: boolean
  readonly down: StreamPosition | null
  readonly up: StreamPosition | null
}

/** The streams to run: the configuration's, then the runtime ones (the store), each with its pause and positions. */
export const desiredStreams = (configured: ReadonlyArray<StreamSpec>, rows: ReadonlyArray<StoredStream>): Array<StreamView & { readonly spec: StreamSpec }> => {
  const byUrl = new Map(rows.map((r) => [r.url, r]))
  const out: Array<StreamView & { readonly spec: StreamSpec }> = []
  const seen = new Set<string>()
  const view = (spec: StreamSpec, source: "config" | "runtime") => {
    const r = byUrl.get(spec.url)
    seen.add(spec.url)
    out.push({ url: spec.url, direction: spec.direction, filter: spec.filter, source, paused: r?.paused ?? false, down: r?.down ?? null, up: r?.up ?? null, spec })
  }
  for (const spec of configured) view(spec, "config")
  for (const r of rows) if (r.runtime && !seen.has(r.url)) view({ url: r.url, direction: r.direction, filter: r.filter, authKey: r.authKey }, "runtime")
  return out
}

