/**
 * ClusterBus: carries each stored or ephemeral event to the other relay
 * processes that share this relay's store, so a subscriber on one process
 * (or host) gets what is published on another. Each receiver matches what
 * arrives against its own SubscriptionIndex (through Fanout).
 *
 * One process alone (the memory store) needs no transport: `local`. With
 * PostgreSQL the transport is LISTEN/NOTIFY (storage/postgres/
 * PostgresClusterBus.ts): stored events go out with the commit of the batch
 * that stored them (one notification per batch, sent by the store's writer in
 * the batch's transaction), so `publish` carries only ephemeral events, those
 * of one turn of the event loop together; events over PostgreSQL's 8,000-byte
 * payload limit are cut into pieces (cluster/BusCodec.ts), and a process
 * ignores its own.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { NostrEvent } from "../nostr/index.ts"
import { PostgresStore } from "../storage/postgres/PostgresEventStore.ts"
import { makePostgresClusterBus } from "../storage/postgres/PostgresClusterBus.ts"

export interface ClusterBusShape {
  /**
   * Hands an event that is not stored (ephemeral) to the other processes (never back to
   * this one). Stored events reach them with the commit that stored them, not through here.
   */
  readonly publish: (event: NostrEvent) => void
  /** Registers the handler for events published by other processes. */
  readonly onRemote: (handler: (event: NostrEvent) => void) => void
}

export class ClusterBus extends Context.Service<ClusterBus, ClusterBusShape>()("parrhesia/cluster/ClusterBus") {
  /** One process: nothing to carry. */
  static readonly local: ClusterBusShape = { publish: () => {}, onRemote: () => {} }

  /** LISTEN/NOTIFY when the store is PostgreSQL, else local. */
  static readonly layer = Layer.effect(
    ClusterBus,
    Effect.gen(function* () {
      const pg = yield* Effect.serviceOption(PostgresStore)
      if (Option.isNone(pg)) return ClusterBus.of(ClusterBus.local)
      return ClusterBus.of(yield* makePostgresClusterBus(pg.value))
    })
  )
}
