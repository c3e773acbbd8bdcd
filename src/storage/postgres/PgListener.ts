/**
 * A LISTEN that lasts: on a connection of its own (not one of the pools',
 * whose connections come and go), listening again a second after the
 * connection is lost (a database outage). The cluster bus and the moderation
 * store each keep one.
 *
 * Each attempt opens a NEW connection: a client whose connection died (the
 * server was killed and restarted) keeps answering with that connection's
 * last error, so retrying on it never recovers. While the database stays
 * away the warning is logged once, then every 30th attempt, and once more
 * when listening resumes.
 */
import * as PgClientModule from "@effect/sql-pg/PgClient"
import type { PgClient } from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { Effect, Queue, Schedule } from "effect"
import { describeError } from "./errors.ts"

/**
 * Listens on `channel` for the scope. `session` is called each time listening (re)starts and gives
 * the handler of that session's payloads, so state that cannot survive a lost connection (half a
 * message) starts afresh, and what was missed while not listening can be caught up there.
 * `what` names the listener in the warnings logged when listening stops and resumes.
 */
export interface ListenOptions {
  /** The listening connection's application_name (other processes may look for it). */
  readonly applicationName?: string
  /** Runs after LISTEN and before `session` each time listening (re)starts (on the pools, not the listener). */
  readonly barrier?: Effect.Effect<unknown, unknown>
}

export const listenForever = (
  client: PgClient,
  channel: string,
  what: string,
  options: ListenOptions,
  session: () => (payload: string) => Effect.Effect<void>
) =>
  Effect.gen(function* () {
    let failures = 0
    let failingSince = 0
    const consume = Effect.scoped(
      Effect.gen(function* () {
        const config = options.applicationName === undefined ? client.config : { ...client.config, applicationName: options.applicationName }
        const listener = yield* PgClientModule.makeClient(config).pipe(Effect.provide(Reactivity.layer))
        const notifications = yield* listener.listen(channel)
        if (options.barrier !== undefined) yield* options.barrier
        if (failures > 0) {
          yield* Effect.logWarning(`${what}: listening again (after ${failures} attempt(s), ${Math.round((Date.now() - failingSince) / 100) / 10} s)`)
          failures = 0
        }
        const onPayload = session()
        for (;;) yield* onPayload((yield* Queue.take(notifications)).payload)
      })
    )
    yield* Effect.forkScoped(
      consume.pipe(
        Effect.tapError((e) =>
          Effect.suspend(() => {
            if (failures++ === 0) failingSince = Date.now()
            return failures === 1 || failures % 30 === 0
              ? Effect.logWarning(`${what}: listening stopped (${describeError(e)}); listening again every second${failures > 1 ? ` (attempt ${failures})` : ""}`)
              : Effect.void
          })
        ),
        Effect.retry(Schedule.spaced("1 second"))
      )
    )
  })
