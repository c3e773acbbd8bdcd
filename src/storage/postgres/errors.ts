/**
 * How the Postgres store's parts fail and wait: StoreError texts carrying the
 * database's own message, deadlines on the live clock (a TestClock in the
 * caller's context must not stall the writer or the time limits), the one
 * retry of a read whose pooled connection died, and the re-run of a unit of
 * work PostgreSQL rolled back as a deadlock victim. Shared by the writer, the
 * reads, maintenance, the cluster bus and the moderation store, so it imports
 * none of them.
 */
import { Clock, Effect, Fiber } from "effect"
import { StoreError } from "../EventStore.ts"

const liveClock = Clock.Clock.defaultValue()

/** Runs `eff` on the live clock whatever the caller provides. */
export const onLiveClock = <A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(eff, Clock.Clock, liveClock)

/** The database's own message of an SqlError (or anything else), for StoreError texts. */
export const describeError = (e: unknown): string => {
  const seen = new Set<unknown>()
  let cur: unknown = e
  const parts: Array<string> = []
  while (cur !== null && typeof cur === "object" && !seen.has(cur)) {
    seen.add(cur)
    const o = cur as { message?: unknown; reason?: unknown; cause?: unknown }
    if (typeof o.message === "string" && o.message !== "" && !parts.includes(o.message)) parts.push(o.message)
    cur = o.reason ?? o.cause
  }
  // The innermost message is the database's; keep the outer one for context when it differs.
  if (parts.length === 0) return String(e)
  return parts.length === 1 ? parts[0]! : `${parts[parts.length - 1]} (${parts[0]})`
}

export const storeError = (what: string) => (e: unknown) =>
  e instanceof StoreError ? e : new StoreError({ message: `${what}: ${describeError(e)}`, cause: e })

/**
 * Fails with StoreError when `eff` takes longer than `ms` (live clock), at `ms`: the query is
 * interrupted (cancelled) without waiting for it to wind down. Interrupting a statement makes
 * @effect/sql-pg send a cancel request and drain the connection for up to 5 s before declaring it
 * dead; when the network to the database stalls, both wait, and waiting for them would turn a
 * 2 s time limit into 7 s. The interruption finishes in the background (the connection then leaves
 * the pool). Interrupting the caller interrupts the query too.
 */
export const withDeadline =
  (ms: number, what: string) =>
  <A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError, R> =>
    onLiveClock(
      Effect.flatMap(Effect.forkDetach(eff), (fiber) =>
        Effect.timeoutOrElse(Fiber.join(fiber), {
          duration: ms,
          orElse: () => Effect.fail(new StoreError({ message: `${what} timed out after ${ms} ms` }))
        }).pipe(Effect.onExit(() => Effect.sync(() => fiber.interruptUnsafe())))
      )
    )

export const isConnectionError = (e: unknown): boolean =>
  (e as { reason?: { _tag?: unknown } } | undefined)?.reason?._tag === "ConnectionError"

/**
 * Runs a unit of work that is one transaction (a statement in autocommit, or a withTransaction)
 * again when PostgreSQL chose it as a deadlock victim or refused it for serialization: the whole
 * unit was rolled back, so running it again is safe. Maintenance and deletions racing the writers
 * (partition drops, batched purges) need it; never wrap a single statement inside a transaction.
 */
export const retryingDeadlocks = <A, E, R>(unit: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(unit, {
    times: 4,
    while: (e) => {
      const tag = (e as { reason?: { _tag?: unknown } } | undefined)?.reason?._tag
      return tag === "DeadlockError" || tag === "SerializationError"
    }
  })
