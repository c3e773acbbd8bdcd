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
}

export class StreamStore extends Context.Service<StreamStore, StreamStoreShape>()("parrhesia/storage/StreamStore") {}
