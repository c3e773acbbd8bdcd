/**
 * NegentropySessions: the relay-wide budget of NIP-77 sessions, and each
 * connection's open sessions (a reconciliation engine per subscription id,
 * with its last activity). Sessions are bounded per connection and in total,
 * and so are the records all open sessions hold (each record ~40 bytes), so
 * memory stays bounded however many clients sync at once; a connection's
 * sessions go with it.
 */
import { Context, Effect, Layer, Semaphore } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Negentropy } from "./engine.ts"

export interface Session {
  readonly engine: Negentropy
  lastActive: number
}

export interface ConnectionSessions {
  readonly get: (subId: string) => Session | undefined
  /** Opens (replacing one with the same id); the reason when a per-connection or relay-wide limit is reached. */
  readonly open: (subId: string, engine: Negentropy, now: number) => string | undefined
  readonly close: (subId: string) => boolean
  /** Ids of sessions idle since before `cutoff` (ms), closed. */
  readonly closeIdle: (cutoff: number) => ReadonlyArray<string>
  readonly closeAll: () => void
  readonly size: () => number
}

export interface NegentropySessionsShape {
  readonly forConnection: () => ConnectionSessions
  readonly total: () => number
  /**
   * Runs the loading of a session's records with one of a few relay-wide
   * permits: a burst of NEG-OPENs over large sets reads them a few at a time,
   * so the rows being converted at once stay bounded too.
   */
  readonly withLoadPermit: <A, E, R>(load: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Records held by all open sessions. */
  readonly records: () => number
}

export class NegentropySessions extends Context.Service<NegentropySessions, NegentropySessionsShape>()("parrhesia/negentropy/NegentropySessions") {
  static readonly layer = Layer.effect(
    NegentropySessions,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      let total = 0
      let records = 0
      const loads = yield* Semaphore.make(2)
      return NegentropySessions.of({
        withLoadPermit: (load) => loads.withPermits(1)(load),
        total: () => total,
        records: () => records,
        forConnection: () => {
          const sessions = new Map<string, Session>()
          const close = (subId: string) => {
            const s = sessions.get(subId)
            if (s === undefined) return false
            sessions.delete(subId)
            total--
            records -= s.engine.size
            return true
          }
          return {
            get: (subId) => sessions.get(subId),
            open: (subId, engine, now) => {
              close(subId)
              if (sessions.size >= config.negentropyMaxSessions) return "too many open negentropy sessions on this connection"
              if (total >= config.negentropyMaxTotalSessions) return "too many open negentropy sessions, try again later"
              if (records + engine.size > config.negentropyMaxTotalRecords) return "open negentropy sessions hold too many records, try again later"
              sessions.set(subId, { engine, lastActive: now })
              total++
              records += engine.size
              return undefined
            },
            close,
            closeIdle: (cutoff) => {
              const idle = [...sessions].filter(([, s]) => s.lastActive < cutoff).map(([id]) => id)
              for (const id of idle) close(id)
              return idle
            },
            closeAll: () => {
              for (const id of [...sessions.keys()]) close(id)
            },
            size: () => sessions.size
          }
        }
      })
    })
  )
}
