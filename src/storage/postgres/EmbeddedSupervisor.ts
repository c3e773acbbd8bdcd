/**
 * Keeps the embedded PostgreSQL running: the design seed's "core
 * infrastructure is permanent". When the postmaster ends without being asked
 * (SIGKILL, an OOM kill, a PANIC it could not recover from) it is started
 * again on the same port and data folder, where PostgreSQL's crash recovery
 * replays the WAL, so every acknowledged (committed) event is still there.
 *
 * Restarts back off: the first try 500 ms after the death, then doubling up
 * to 30 s while the server keeps dying (it failed to start, or died again
 * within 30 s of a start: a crash loop, e.g. a full disk). Every death and
 * every attempt is logged with the server's last log lines, and each state
 * change (down, restarting, up, with the restart count) is reported to the
 * caller: this process's StoreHealth, and with `workers` the primary forwards
 * it to every worker.
 *
 * Plain callbacks and timers (like cluster/workers.ts), so the primary of
 * `workers`, which runs no relay, can use it as well.
 */
import { Effect } from "effect"
import type { ServerReport } from "../StoreHealth.ts"
import type { EmbeddedServer } from "./EmbeddedPostgres.ts"

/** Delay before the n-th attempt in a row (n from 0): 500 ms doubling, at most 30 s. */
export const storeRestartDelayMs = (failuresInARow: number): number => Math.min(30_000, 500 * 2 ** Math.min(failuresInARow, 16))

/** A server up this long before it died starts its backoff afresh. */
const STABLE_MS = 30_000

export interface EmbeddedSupervisorOptions {
  readonly server: EmbeddedServer
  /** Every state change, with the restarts so far. */
  readonly report: (report: ServerReport) => void
  readonly log: (message: string) => void
  /** Test hook: the backoff (defaults to storeRestartDelayMs). */
  readonly delayMs?: (failuresInARow: number) => number
}

export interface EmbeddedSupervisor {
  readonly current: () => ServerReport
  /** Stops supervising (waits for an attempt under way); the server itself is stopped by its own scope. */
  readonly stop: () => Promise<void>
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

export const startSupervisor = (options: EmbeddedSupervisorOptions): EmbeddedSupervisor => {
  const { server, log } = options
  const delayMs = options.delayMs ?? storeRestartDelayMs
  let state: ServerReport = { state: "up", reason: "", restarts: 0 }
  let failures = 0
  let upSince = Date.now()
  let downSince = 0
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let attempt: Promise<void> | undefined
  let pid = server.pid()

  const report = (next: Omit<ServerReport, "restarts">) => {
    state = { ...next, restarts: state.restarts }
    options.report(state)
  }

  const retryLater = (why: string) => {
    const delay = delayMs(failures++)
    report({ state: "down", reason: why })
    const loop = failures > 2 ? ` (failure ${failures} in a row: backing off)` : ""
    log(`${why}; restarting it in ${delay} ms${loop}`)
    timer = setTimeout(() => {
      timer = undefined
      attempt = tryStart().finally(() => (attempt = undefined))
    }, delay)
  }

  const tryStart = async () => {
    if (stopped) return
    report({ state: "restarting", reason: `the embedded PostgreSQL is restarting (attempt ${failures})` })
    try {
      await server.restart()
    } catch (e) {
      if (!stopped) retryLater(`the embedded PostgreSQL could not start again: ${messageOf(e)}`)
      return
    }
    if (stopped) return
    pid = server.pid()
    upSince = Date.now()
    state = { ...state, restarts: state.restarts + 1 }
    report({ state: "up", reason: "" })
    log(`the embedded PostgreSQL is back (pid ${pid}, restart ${state.restarts}, ${Date.now() - downSince} ms after it ended)`)
  }

  const unsubscribe = server.onExit((how) => {
    if (stopped) return
    downSince = Date.now()
    if (downSince - upSince >= STABLE_MS) failures = 0
    const tail = server.logTail(4)
    retryLater(`the embedded PostgreSQL (pid ${pid}) ended (${how})${tail ? ` — last log lines: ${tail}` : ""}`)
  })

  return {
    current: () => state,
    stop: async () => {
      stopped = true
      unsubscribe()
      if (timer !== undefined) clearTimeout(timer)
      await attempt
    }
  }
}

/** The supervisor for the scope (started after the server, so stopped before it). */
export const superviseEmbedded = (options: EmbeddedSupervisorOptions) =>
  Effect.acquireRelease(
    Effect.sync(() => startSupervisor(options)),
    (s) => Effect.promise(s.stop)
  )
