/**
 * NegentropySessions: the relay-wide budget of NIP-77 sessions, and each
 * connection's open sessions (a reconciliation engine per subscription id,
 * with its last activity). Sessions are bounded per connection and in total;
 * a connection's sessions go with it.
 */
import { Context, Effect, Layer } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import type { Negentropy } from "./engine.ts"

export interface Session {
  readonly engine: Negentropy
  lastActive: number
}

export interface ConnectionSessions {
  readonly get: (subId: string) => Session | undefined
  /** Opens (replacing one with the same id); false when a per-connection or relay-wide limit is reached. */
  readonly open: (subId: string, engine: Negentropy, now: number) => boolean
  readonly close: (subId: string) => boolean
  /** Ids of sessions idle since before `cutoff` (ms), closed. */
  readonly closeIdle: (cutoff: number) => ReadonlyArray<string>
  readonly closeAll: () => void
  readonly size: () => number
}

export interface NegentropySessionsShape {
  readonly forConnection: () => ConnectionSessions
  readonly total: () => number
}

export class NegentropySessions extends Context.Service<NegentropySessions, NegentropySessionsShape>()("parrhesia/negentropy/NegentropySessions") {
  static readonly layer = Layer.effect(
    NegentropySessions,
    Effect.gen(function* () {
      const config = yield* RelayConfig
      let total = 0
      return NegentropySessions.of({
        total: () => total,
        forConnection: () => {
          const sessions = new Map<string, Session>()
          const close = (subId: string) => {
            if (!sessions.delete(subId)) return false
            total--
            return true
          }
          return {
            get: (subId) => sessions.get(subId),
            open: (subId, engine, now) => {
              close(subId)
              if (sessions.size >= config.negentropyMaxSessions || total >= config.negentropyMaxTotalSessions) return false
              sessions.set(subId, { engine, lastActive: now })
              total++
              return true
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
