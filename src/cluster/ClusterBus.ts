/**
 * ClusterBus: carries each stored or ephemeral event to the other relay
 * processes that share this relay's store, so a subscriber on one process
 * (or host) gets what is published on another. Each receiver matches what
 * arrives against its own SubscriptionIndex (through Fanout).
 *
 * This module is the port only: the storage layer that provides EventStore
 * provides the transport too (storage/layer.ts). One process alone (the
 * memory store) needs none: `local`. With PostgreSQL the transport is
 * LISTEN/NOTIFY (storage/postgres/PostgresClusterBus.ts): stored events go out with the commit of the batch
 * that stored them (one notification per batch, sent by the store's writer in
 * the batch's transaction), so `publish` carries only ephemeral events, those
 * of one turn of the event loop together; events over PostgreSQL's 8,000-byte
 * payload limit are cut into pieces (cluster/BusCodec.ts), and a process
 * ignores its own.
 */
import { Context, Layer } from "effect"
import type { NostrEvent } from "../nostr/index.ts"

export interface ClusterBusShape {
  /**
   * Hands an event that is not stored (ephemeral) to the other processes (never back to
   * this one). Stored events reach them with the commit that stored them, not through here.
   */
  readonly publish: (event: NostrEvent) => void
  /** Registers the handler for events published by other processes. */
  readonly onRemote: (handler: (event: NostrEvent) => void) => void
  /**
   * Registers a handler called whenever events of other processes may have been missed: each
   * time the transport starts listening (the first time too; at once if it already listens) and
   * when it drops a message. What was heard before is then incomplete (the hot window rebuilds
   * from the store). Absent: nothing is ever missed (one process).
   */
  readonly onGap?: (handler: () => void) => void
}

export class ClusterBus extends Context.Service<ClusterBus, ClusterBusShape>()("parrhesia/cluster/ClusterBus") {
  /** One process: nothing to carry. */
  static readonly local: ClusterBusShape = { publish: () => {}, onRemote: () => {} }

  /** The transport of one process alone (the memory store). */
  static readonly layerLocal: Layer.Layer<ClusterBus> = Layer.succeed(ClusterBus, ClusterBus.local)
}
