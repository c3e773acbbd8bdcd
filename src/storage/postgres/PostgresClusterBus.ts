/**
 * The ClusterBus over PostgreSQL LISTEN/NOTIFY, on one channel that every
 * process listens to (each skipping its own notifications). Wire format:
 * cluster/BusCodec.ts — events packed into as few payloads as fit PostgreSQL's
 * limit, an event over it cut into pieces, so every event travels by value
 * (no read-back from a store that may lag, and ephemeral events were never
 * stored).
 *
 * - Stored events: the store's group-commit writer sends them in the
 *   statement (so the transaction) of the batch that stored them
 *   (`setBatchNotifier`): PostgreSQL delivers them at commit and only if it
 *   commits, so an acknowledged event cannot miss the other processes, and
 *   duplicates, superseded and deleted events are never sent.
 * - Ephemeral events (`publish`): gathered for one turn of the event loop,
 *   then sent in one statement — one transaction, whose notifications
 *   PostgreSQL delivers together and in order.
 * - Gaps (`onGap`): each time listening starts (again, after a lost
 *   connection) and when a message could not be read, what was heard before
 *   may be incomplete; the hot window fills itself again from the store.
 */
import { randomBytes } from "node:crypto"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Effect, Layer, Result } from "effect"
import { eventJson, type NostrEvent } from "../../nostr/index.ts"
import { ClusterBus, type ClusterBusShape } from "../../cluster/ClusterBus.ts"
import { makePacker, Reassembler, TAIL } from "../../cluster/BusCodec.ts"
import { StoreError } from "../EventStore.ts"
import { describeError } from "./errors.ts"
import { PostgresStore, type PostgresStoreInternals } from "./PostgresEventStore.ts"
import type { BatchNotice, BatchNotifier } from "./writer.ts"
import { listenForever } from "./PgListener.ts"

export const CHANNEL = "parrhesia_events"

/** Waits for every writer statement that may have decided nobody else listens (migration 0010). */
const BARRIER_SQL = "LOCK TABLE parrhesia_bus_barrier IN ACCESS EXCLUSIVE MODE"
const BUS_APPLICATION_PREFIX = "parrhesia-bus "
const NOTIFY_ALL_SQL = "SELECT pg_notify($1::text, p) FROM unnest($2::text[]) AS p"

/** What the writer sends with each batch's commit: the stored events packed into this process's messages. */
export const batchNotifier = (origin: string, packer: ReturnType<typeof makePacker> = makePacker(origin)): BatchNotifier => ({
  origin,
  notice: (events): BatchNotice => {
    const plan = packer.plan(events.map(eventJson))
    return {
      channel: CHANNEL,
      head: plan.head,
      tail: TAIL,
      groups: plan.groups,
      pieces: plan.pieces.map((p) => p.payload),
      piecePos: plan.pieces.map((p) => p.event + 1)
    }
  }
})

export const makePostgresClusterBus = (pg: Pick<PostgresStoreInternals, "admin" | "setBatchNotifier">) =>
  Effect.gen(function* () {
    const client = pg.admin
    const origin = randomBytes(8).toString("hex")
    const packer = makePacker(origin)
    const services = yield* Effect.context<never>()
    const run = <A, E>(e: Effect.Effect<A, E>) => void Effect.runForkWith(services)(Effect.catchCause(e, (c) => Effect.logWarning("cluster bus", c)))
    let handler: (e: NostrEvent) => void = () => {}
    // Listening (re)started or a message was lost: what was heard before may be incomplete (hot window).
    let listening = false
    let gap: () => void = () => {}

    // Stored events: with the commit of the batch that stored them.
    pg.setBatchNotifier(batchNotifier(origin, packer))
    yield* Effect.addFinalizer(() => Effect.sync(() => pg.setBatchNotifier(undefined)))

    // Ephemeral events: gathered for one turn, then one statement.
    let pending: Array<NostrEvent> = []
    const flush = () => {
      const payloads = packer.payloads(pending.map(eventJson))
      pending = []
      run(client.unsafe(NOTIFY_ALL_SQL, [CHANNEL, Result.getOrThrow(PgTypes.array(payloads, PgTypes.OID.text))]))
    }

    // Incoming: every process's notifications; its own are skipped.
    // The listener's name tells other processes' writers that this one listens (migration 0010); the
    // barrier waits out their statements that decided otherwise before it counts as listening.
    yield* listenForever(client, CHANNEL, "cluster bus", { applicationName: `${BUS_APPLICATION_PREFIX}${origin}`, barrier: client.withTransaction(client.unsafe(BARRIER_SQL)) }, () => {
      // Pieces of a message arrive together (one transaction); a new listen starts afresh.
      const rx = new Reassembler(origin)
      let dropped = 0
      listening = true
      gap()
      return (payload) =>
        Effect.gen(function* () {
          const r = rx.push(payload, Date.now())
          if (r._tag === "Events") {
            for (const e of r.events) handler(e)
            if (r.invalid > 0) {
              gap()
              yield* Effect.logWarning(`cluster bus: skipped ${r.invalid} malformed event(s) from another process`)
            }
          } else if (r._tag === "Invalid") {
            gap()
            yield* Effect.logWarning(`cluster bus: skipped a notification: ${r.reason}`)
          }
          if (rx.dropped !== dropped) {
            gap()
            yield* Effect.logWarning(`cluster bus: dropped ${rx.dropped - dropped} incomplete message(s)`)
            dropped = rx.dropped
          }
        })
    })

    return {
      publish: (e) => {
        if (pending.length === 0) setImmediate(flush)
        pending.push(e)
      },
      onRemote: (h) => {
        handler = h
      },
      onGap: (h) => {
        gap = h
        if (listening) h()
      }
    } satisfies ClusterBusShape
  })

/** The ClusterBus over the PostgreSQL store's connection (provided by storage/layer.ts beside EventStore). */
export const layerPostgresClusterBus: Layer.Layer<ClusterBus, StoreError, PostgresStore> = Layer.effect(
  ClusterBus,
  Effect.gen(function* () {
    return ClusterBus.of(yield* makePostgresClusterBus(yield* PostgresStore))
  }).pipe(Effect.mapError((e) => new StoreError({ message: `cannot start the cluster bus: ${describeError(e)}`, cause: e })))
)
