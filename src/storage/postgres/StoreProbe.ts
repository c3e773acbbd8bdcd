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
 */
import type { PgClient } from "@effect/sql-pg/PgClient"
import { Cause, Deferred, Effect } from "effect"
import type { StoreHealthState } from "../StoreHealth.ts"
import { describeError, onLiveClock, withDeadline } from "./errors.ts"

export interface ProbeOptions {
  readonly pools: ReadonlyArray<{ readonly name: string; readonly client: PgClient }>
  readonly health: StoreHealthState
  /** Time limit of one probe (connecting included). */
  readonly timeoutMs: number
  /** Pause between probes while ready; default 1000 ms. */
  readonly everyMs?: number
  /** Pause between probes while not ready; default 250 ms. */
  readonly retryMs?: number
}

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
        health.probed(yield* probeOnce(options.pools, options.timeoutMs), startedAt)
      }
    }))
  )
