/**
 * The readiness probe of the PostgreSQL store: a `SELECT 1` through each
 * pool the relay serves from (ingest and read), with a short time limit, once
 * a second while ready and four times a second while not, and at once when
 * the health state asks (the supervised server came back, a call met a lost
 * connection). Going through the pools, not a connection of its own, is the
 * point: it fails while the pools hold dead or stalled connections and passes
 * once they have reconnected.
 *
 * A probe that fails while some store call succeeded meanwhile does not count
 * (a saturated pool made the probe wait, the database is fine), so load
 * cannot make the relay look down.
 *
 * While writes fail (a full disk) the probe also tries a write: the writer's
 * own statement for a made-up event, in a transaction that is rolled back,
 * so it needs the same space and locks as a real one and stores nothing. Its
 * success makes the relay ready again even when no client writes.
 */
import { randomBytes } from "node:crypto"
import type { PgClient } from "@effect/sql-pg/PgClient"
import { Cause, Data, Deferred, Effect } from "effect"
import type { NostrEvent } from "../../nostr/index.ts"
import type { StoreHealthState } from "../StoreHealth.ts"
import { describeError, onLiveClock, withDeadline } from "./errors.ts"
import { PUT_SQL, putParams } from "./writer.ts"

export interface ProbeOptions {
  readonly pools: ReadonlyArray<{ readonly name: string; readonly client: PgClient }>
  readonly health: StoreHealthState
  /** Time limit of one probe (connecting included). */
  readonly timeoutMs: number
  /** Pause between probes while ready; default 1000 ms. */
  readonly everyMs?: number
  /** Pause between probes while not ready; default 250 ms. */
  readonly retryMs?: number
  /** Tried while writes fail; succeeds when a write would. */
  readonly writeProbe?: Effect.Effect<void, unknown>
}

class RolledBack extends Data.TaggedError("RolledBack")<{}> {}

/** A write that stores nothing: the writer's statement for a made-up event, rolled back. */
export const rolledBackWrite = (ingest: PgClient): Effect.Effect<void, unknown> =>
  Effect.suspend(() => {
    const hex = (bytes: number) => randomBytes(bytes).toString("hex")
    const event: NostrEvent = { id: hex(32), pubkey: hex(32), created_at: Math.floor(Date.now() / 1000), kind: 1, tags: [], content: "", sig: hex(64) }
    return ingest.withTransaction(Effect.andThen(ingest.unsafe(PUT_SQL, putParams([event])), Effect.fail(new RolledBack())))
  }).pipe(Effect.catchTag("RolledBack", () => Effect.void))

/** One probe: undefined when every pool answered, else what failed. */
export const probeOnce = (pools: ProbeOptions["pools"], timeoutMs: number): Effect.Effect<string | undefined> =>
  Effect.map(
    Effect.forEach(
      pools,
      (p) =>
        p.client.unsafe("SELECT 1").pipe(
          withDeadline(timeoutMs, "SELECT 1"),
          Effect.as(undefined),
          Effect.catchCause((cause) => Effect.succeed(`${p.name} pool: ${describeError(Cause.squash(cause))}`))
        ),
      { concurrency: "unbounded" }
    ),
    (failures) => failures.find((f) => f !== undefined)
  )

/** Probes for the scope (a fiber of its own, on the live clock). */
export const probeForever = (options: ProbeOptions) =>
  Effect.forkScoped(
    onLiveClock(Effect.gen(function* () {
      const { health } = options
      for (;;) {
        const woken = Deferred.makeUnsafe<void>()
        health.wake = () => void Deferred.doneUnsafe(woken, Effect.void)
        const pause = health.status().ready ? (options.everyMs ?? 1000) : (options.retryMs ?? 250)
        yield* Effect.raceFirst(Effect.sleep(pause), Deferred.await(woken))
        const startedAt = performance.now()
        let failure = yield* probeOnce(options.pools, options.timeoutMs)
        // A deadline may fire only because the event loop was blocked (a long synchronous task, a GC
        // pause): when it resumes, timers run before the sockets are read, so the answer that is there
        // loses. Ask once more before calling the store away (a refused connection fails again at once).
        // A second, shorter limit: a database that is there answers a fresh SELECT 1 in milliseconds.
        if (failure !== undefined) failure = yield* probeOnce(options.pools, Math.min(options.timeoutMs, 1000))
        health.probed(failure, startedAt)
        if (failure === undefined && options.writeProbe !== undefined && health.writeFailure() !== undefined) {
          const wrote = yield* Effect.result(options.writeProbe.pipe(withDeadline(options.timeoutMs, "write probe")))
          if (wrote._tag === "Success") health.wrote()
          else health.writeFailed(describeError(wrote.failure))
        }
      }
    }))
  )
