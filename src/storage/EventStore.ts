/**
 * The storage port. Domain code depends on this tag only; adapters live in
 * ./memory and ./postgres and all pass the one contract suite in test/contract.
 *
 * Semantics every adapter keeps:
 * - `put` stores regular, replaceable and addressable events; ephemeral events
 *   are never passed in (the ingest pipeline does not store them).
 * - Replaceable (pubkey, kind) and addressable (pubkey, kind, d) keep only the
 *   newest version; equal created_at goes to the lowest id. An older version
 *   arriving later is `Superseded` and not stored.
 * - `put` resolves only after the event is durably committed.
 * - `query` answers each filter with its own `limit` (absent = no limit: the
 *   query pipeline always sets one), unions the results without duplicates and
 *   returns them newest first, ties by lowest id; a lone `search` filter
 *   (NIP-50: all its words, whole words, case folded) comes back by relevance,
 *   its limit applied after ranking. Expired events (NIP-40) and
 *   deleted events are never returned.
 */
import { Context, Data, Effect } from "effect"
import { servedEvent, type Filter, type NostrEvent, type ServedEvent } from "../nostr/index.ts"
import type { RetentionPolicy } from "../config/retention.ts"
import type { DeletionRequest } from "../nostr/deletion.ts"

/**
 * Reads run inside `Effect.provideService(FreshReads, true)` need the latest
 * committed state (reading back what was just written): a store with a read
 * replica (`readDatabaseUrl`) sends them to the primary instead. Default
 * false: REQ and COUNT may be answered by the replica, a little behind.
 */
/**
 * Tag values longer than this many UTF-8 bytes are not indexed by the PostgreSQL store (a btree
 * entry holds ~2.7 kB): a filter cannot find an event by such a value there. The hot window, which
 * answers only what the store would, does not index them either.
 */
export const MAX_INDEXED_TAG_BYTES = 2000

/** Whether a tag value is within MAX_INDEXED_TAG_BYTES (500 UTF-16 units never exceed it in UTF-8). */
export const indexableTagValue = (v: string): boolean => v.length <= 500 || Buffer.byteLength(v, "utf8") <= MAX_INDEXED_TAG_BYTES

export const FreshReads = Context.Reference<boolean>("parrhesia/storage/FreshReads", { defaultValue: () => false })

export class StoreError extends Data.TaggedError("StoreError")<{
  readonly message: string
  readonly cause?: unknown
  /** The store cannot hold this event as it is (e.g. NUL in PostgreSQL text): the client's problem, not an outage. */
  readonly unstorable?: boolean
}> {}

export type PutOutcome =
  /** Newly committed. */
  | "stored"
  /** Already stored (same id). */
  | "duplicate"
  /** A newer version of this replaceable/addressable address is stored. */
  | "superseded"
  /** The event was deleted earlier (NIP-09 / NIP-62) and may not come back. */
  | "deleted"

/** A NIP-09 deletion request, already validated: what its author asked to delete (src/nostr/deletion.ts). */
export type { DeletionRequest }

/** What NIP-77 reconciles: an event's (created_at, id), with its author for the access rules. */
export interface NegentropyRecord {
  readonly created_at: number
  readonly id: string
  readonly pubkey: string
}

/** Where a scan resumes: strictly after this event's (created_at, id). */
export interface ScanCursor {
  readonly created_at: number
  readonly id: string
}

/** The order of a scan: oldest first, ties by lowest id. */
export const compareOldestFirst = (a: ScanCursor, b: ScanCursor): number =>
  a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** A pubkey that asked to vanish (NIP-62): its events up to `until` are gone and refused. */
export interface Vanished {
  readonly pubkey: string
  readonly until: number
}

export interface EventStoreShape {
  readonly put: (event: NostrEvent) => Effect.Effect<PutOutcome, StoreError>
  readonly query: (filters: ReadonlyArray<Filter>) => Effect.Effect<ReadonlyArray<NostrEvent>, StoreError>
  /**
   * What `query` answers, as ServedEvents: each event's JSON text as the store keeps it, sent as it
   * is, with the event parsed only on demand. Optional: an adapter without it is served through
   * `query` (see `queryServed` below); REQ answers use this.
   */
  readonly queryServed?: (filters: ReadonlyArray<Filter>) => Effect.Effect<ReadonlyArray<ServedEvent>, StoreError>
  readonly count: (filters: ReadonlyArray<Filter>) => Effect.Effect<number, StoreError>
  /**
   * What the store takes up, in bytes, for the status page: PostgreSQL's database on disk, the
   * memory store's estimate of what it holds. Cheap enough to ask every few seconds. Optional: a
   * store without it shows no size.
   */
  readonly size?: Effect.Effect<number, StoreError>
  /**
   * NIP-45: the count and the 256 HyperLogLog registers over the counted events' pubkeys at
   * `offset` (see src/nostr/hll.ts), without returning the events.
   */
  readonly countHll: (filters: ReadonlyArray<Filter>, offset: number) => Effect.Effect<{ readonly count: number; readonly hll: Uint8Array }, StoreError>
  /** Deletes the author's own events named by the request; returns how many were removed. */
  readonly deleteByRequest: (request: DeletionRequest) => Effect.Effect<number, StoreError>
  /**
   * NIP-62: removes every event of `pubkey` with created_at <= until, and gift wraps (1059) addressed to
   * it, leaving tombstones; records the pubkey and `until` (the latest request wins) for `vanished`.
   */
  readonly vanish: (pubkey: string, until: number) => Effect.Effect<number, StoreError>
  /**
   * NIP-77: the (created_at, id, pubkey) of every event matching the filters (union, each filter's
   * `limit` honoured when set), at most `max` of them (the caller asks one more to detect "too many"),
   * without loading the events themselves. Order is not significant.
   */
  readonly negentropyRecords: (filters: ReadonlyArray<Filter>, max: number) => Effect.Effect<ReadonlyArray<NegentropyRecord>, StoreError>
  /** NIP-50 `domain:`: the pubkeys whose kind-0 profile has a NIP-05 identifier at `domain`. */
  readonly authorsAtDomain: (domain: string) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /**
   * One page of a walk over every stored event matching `filter` (its `limit` ignored; no `search`),
   * oldest first (`compareOldestFirst`), strictly after `after` (undefined: from the oldest), at most
   * `max` events; a page shorter than `max` is the last. Keyset-paginated: a page costs the same
   * however far the walk has gone, and events stored meanwhile behind the cursor are not revisited.
   * Expired events (NIP-40) are left out, as by `query`. For `parrhesia export`.
   */
  readonly scan: (filter: Filter, after: ScanCursor | undefined, max: number) => Effect.Effect<ReadonlyArray<ServedEvent>, StoreError>
  /**
   * Which of `ids` the store holds: exactly those a `put` would answer "duplicate" for. For
   * `parrhesia import`, to skip what an earlier, interrupted run stored without checking it again.
   */
  readonly storedIds: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, StoreError>
  /** Every pubkey that asked to vanish, with the latest `until`. */
  readonly vanished: Effect.Effect<ReadonlyArray<Vanished>, StoreError>
  /** Removes events whose NIP-40 expiration is at or before `now` (unix seconds). */
  readonly purgeExpired: (now: number) => Effect.Effect<number, StoreError>
  /**
   * Removes events older than their kind's retention age at `now`, in bounded
   * batches (so writes keep flowing); deletion tombstones stay. Returns how
   * many were removed.
   */
  readonly purgeByRetention: (policy: RetentionPolicy, now: number) => Effect.Effect<number, StoreError>
}

export class EventStore extends Context.Service<EventStore, EventStoreShape>()("parrhesia/storage/EventStore") {}

/** The store's answer to a REQ as ServedEvents: its own `queryServed`, else `query`'s events wrapped. */
export const queryServed = (store: EventStoreShape, filters: ReadonlyArray<Filter>): Effect.Effect<ReadonlyArray<ServedEvent>, StoreError> =>
  store.queryServed !== undefined ? store.queryServed(filters) : Effect.map(store.query(filters), (events) => events.map(servedEvent))
