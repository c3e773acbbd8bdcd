/**
 * The last hour of the status page's charts: one sample a second of accepted
 * events/s, REQs/s, the OK and EOSE p95 of that second, open connections and
 * live subscriptions, in a ring of 3,600 (observability/history.ts), taken by
 * one timer per relay process on the wall clock (unref'd: it never holds the
 * process up). The page fetches what it lacks from GET /stats/history?after=T.
 */
import { Context, Effect, Layer } from "effect"
import { History, type HistoryJson } from "../observability/history.ts"
import * as M from "../observability/metrics.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"

/** Samples kept: an hour of one-second samples. */
export const HISTORY_SAMPLES = 3600

export interface StatusHistoryShape {
  /** The samples newer than `after` (unix seconds). */
  readonly since: (after: number) => HistoryJson
}

export class StatusHistory extends Context.Service<StatusHistory, StatusHistoryShape>()("parrhesia/http/StatusHistory") {
  static readonly layer = Layer.effect(
    StatusHistory,
    Effect.gen(function* () {
      const index = yield* SubscriptionIndex
      const context = yield* Effect.context<never>()
      const history = new History(HISTORY_SAMPLES)
      const counted = (m: typeof M.reqsReceived) => Number(m.valueUnsafe(context).count)
      const accepted = M.eventsResult("accepted")
      let last = { at: Date.now(), accepted: counted(accepted), reqs: counted(M.reqsReceived) }

      const sample = () => {
        const at = Date.now()
        // The second that just ended: the latency rings have all of it.
        const second = Math.floor(at / 1000) - 1
        const latest = history.latest
        if (latest !== undefined && second <= latest) return
        const now = { at, accepted: counted(accepted), reqs: counted(M.reqsReceived) }
        const seconds = Math.max(0.001, (now.at - last.at) / 1000)
        history.push(second, {
          eventsPerSecond: (now.accepted - last.accepted) / seconds,
          reqsPerSecond: (now.reqs - last.reqs) / seconds,
          okP95Ms: M.okLatency.quantile(second, 0.95),
          eoseP95Ms: M.eoseLatency.quantile(second, 0.95),
          connections: Number(M.openConnections.valueUnsafe(context).value),
          subscriptions: index.size()
        })
        last = now
      }

      // Just after each second's turn (re-aimed every time, so it does not drift): a sample covers one
      // whole second of the latency rings.
      let timer: ReturnType<typeof setTimeout> | undefined
      const schedule = () => {
        timer = setTimeout(tick, 1000 - (Date.now() % 1000) + 20)
        timer.unref()
      }
      const tick = () => {
        try {
          sample()
        } finally {
          schedule()
        }
      }
      schedule()
      yield* Effect.addFinalizer(() => Effect.sync(() => clearTimeout(timer)))
      return StatusHistory.of({ since: (after) => history.since(after) })
    })
  )
}
