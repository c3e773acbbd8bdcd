/**
 * A LISTEN that lasts: on a connection of its own (not one of the pools',
 * whose connections come and go), listening again a second after the
 * connection is lost (a database outage). The cluster bus and the moderation
 * store each keep one.
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import type { PgClient } from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Effect, Queue, Schedule } from "effect"

/**
 * Listens on `channel` for the scope. `session` is called each time listening (re)starts and gives
 * the handler of that session's payloads, so state that cannot survive a lost connection (half a
 * message) starts afresh, and what was missed while not listening can be caught up there.
 * `what` names the listener in the warning logged when listening stops.
 */
export const listenForever = (
  client: PgClient,
  channel: string,
  what: string,
  session: () => (payload: string) => Effect.Effect<void>
) =>
  Effect.gen(function* () {
    const listener = yield* PgClientModule.makeClient(client.config).pipe(Effect.provide(Reactivity.layer))
    const consume = Effect.scoped(
      Effect.gen(function* () {
        const notifications = yield* listener.listen(channel)
        const onPayload = session()
        for (;;) yield* onPayload((yield* Queue.take(notifications)).payload)
      })
    )
    yield* Effect.forkScoped(
      consume.pipe(
        Effect.tapError((e) => Effect.logWarning(`${what}: listening stopped (${String(e)}); listening again`)),
        Effect.retry(Schedule.spaced("1 second"))
      )
    )
  })
