/**
 * ClusterBus: carries each stored or ephemeral event to the other relay
 * processes that share this relay's store, so a subscriber on one process
 * (or host) gets what is published on another. Each receiver matches what
 * arrives against its own SubscriptionIndex (through Fanout).
 *
 * One process alone (the memory store) needs no transport: `local`. With
 * PostgreSQL the transport is LISTEN/NOTIFY (storage/postgres/
 * PostgresClusterBus.ts): events published within one turn of the event loop
 * go out as one notification (by reference when over PostgreSQL's 8,000-byte
 * payload limit), and a process ignores its own.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { NostrEvent } from "../nostr/index.ts"
import { PostgresStore } from "../storage/postgres/PostgresEventStore.ts"
import { makePostgresClusterBus } from "../storage/postgres/PostgresClusterBus.ts"
import { EventStore } from "../storage/EventStore.ts"

export interface ClusterBusShape {
  /** Hands an event to the other processes (never back to this one). */
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
      const store = yield* EventStore
      return ClusterBus.of(yield* makePostgresClusterBus(pg.value.admin, store))
    })
  )
}
