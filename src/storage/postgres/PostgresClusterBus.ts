/**
 * The ClusterBus over PostgreSQL LISTEN/NOTIFY. Events published in one turn
 * of the event loop go out together: as one notification holding them when
 * it fits PostgreSQL's payload limit, else as notifications of their ids,
 * which receivers read back from the store. Every process listens on one
 * channel and ignores its own notifications.
 */
import { randomBytes } from "node:crypto"
import * as PgClientModule from "@effect/sql-pg/PgClient"
import type { PgClient } from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Effect, Queue, Schedule } from "effect"
import type { NostrEvent } from "../../nostr/index.ts"
import type { ClusterBusShape } from "../../cluster/ClusterBus.ts"
import type { EventStoreShape } from "../EventStore.ts"

export const CHANNEL = "parrhesia_events"
/** PostgreSQL refuses payloads of 8,000 bytes and more. */
const MAX_PAYLOAD = 7900

interface Message {
  /** The sending process. */
  readonly o: string
  readonly e?: ReadonlyArray<NostrEvent>
  readonly ids?: ReadonlyArray<string>
}

export const makePostgresClusterBus = (client: PgClient, store: EventStoreShape) =>
  Effect.gen(function* () {
    const origin = randomBytes(8).toString("hex")
    const services = yield* Effect.context<never>()
    const run = <A, E>(e: Effect.Effect<A, E>) => void Effect.runForkWith(services)(Effect.catchCause(e, (c) => Effect.logWarning("cluster bus", c)))
    let handler: (e: NostrEvent) => void = () => {}

    // Outgoing: gathered for one turn, then as few notifications as fit.
    let pending: Array<NostrEvent> = []
    const flush = () => {
      const events = pending
      pending = []
      // Each event serialized once; messages packed up to the limit, counted in bytes as PostgreSQL does.
      const head = `{"o":"${origin}","e":[`
      const tail = "]}"
      const messages: Array<string> = []
      const ids: Array<string> = []
      let parts: Array<string> = []
      let size = 0
      const close = () => {
        if (parts.length > 0) messages.push(head + parts.join(",") + tail)
        parts = []
        size = 0
      }
      for (const e of events) {
        const json = JSON.stringify(e)
        const bytes = Buffer.byteLength(json)
        if (head.length + bytes + tail.length > MAX_PAYLOAD) {
          ids.push(e.id)
          continue
        }
        if (head.length + size + (parts.length > 0 ? 1 : 0) + bytes + tail.length > MAX_PAYLOAD) close()
        size += (parts.length > 0 ? 1 : 0) + bytes
        parts.push(json)
      }
      close()
      for (let i = 0; i < ids.length; i += 100) messages.push(JSON.stringify({ o: origin, ids: ids.slice(i, i + 100) } satisfies Message))
      run(Effect.forEach(messages, (m) => client.notify(CHANNEL, m), { discard: true }))
    }

    // Incoming: every process's notifications; its own are skipped. The listener has a connection
    // of its own (not one of the pools'), and listens again after a database outage.
    const listener = yield* PgClientModule.makeClient(client.config).pipe(Effect.provide(Reactivity.layer))
    const consume = Effect.scoped(
      Effect.gen(function* () {
        const notifications = yield* listener.listen(CHANNEL)
        for (;;) {
          const n = yield* Queue.take(notifications)
          let m: Message
          try {
            m = JSON.parse(n.payload) as Message
          } catch {
            continue
          }
          if (m.o === origin) continue
          for (const e of m.e ?? []) handler(e)
          if (m.ids !== undefined && m.ids.length > 0) {
            const found = yield* Effect.orElseSucceed(store.query([{ ids: [...m.ids] }]), () => [])
            for (const e of found) handler(e)
          }
        }
      })
    )
    yield* Effect.forkScoped(
      consume.pipe(
        Effect.tapError((e) => Effect.logWarning(`cluster bus: listening stopped (${String(e)}); listening again`)),
        Effect.retry(Schedule.spaced("1 second"))
      )
    )

    return {
      publish: (e) => {
        if (pending.length === 0) setImmediate(flush)
        pending.push(e)
      },
      onRemote: (h) => {
        handler = h
      }
    } satisfies ClusterBusShape
  })
