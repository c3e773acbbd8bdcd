/** COUNT (NIP-45): rate limit, filters and read policy, then an exact count of what this connection may see (and its HLL). */
import { Effect, Metric } from "effect"
import { encodeCount, RateLimited } from "../../nostr/index.ts"
import * as M from "../../observability/metrics.ts"
import { annotate, span, tracingEnabled } from "../../observability/tracing.ts"
import { closedFor, type Conn } from "./Conn.ts"
import { checkSubId, filterShape } from "./req.ts"

export const onCount = (conn: Conn, subId: string, rawFilters: ReadonlyArray<unknown>) =>
  Effect.gen(function* () {
    const { query, limiter } = conn.services
    yield* Metric.update(M.countsReceived, 1)
    const bad = checkSubId(conn, subId)
    if (bad) return yield* closedFor(conn, subId, bad)
    const allowed = yield* limiter.tryRead({ connectionId: conn.id, ip: conn.ip, pubkeys: conn.ctx.authenticated })
    conn.rateOutcome(allowed)
    if (!allowed) return yield* closedFor(conn, subId, new RateLimited({ message: "too many requests, slow down" }))
    const n = yield* Effect.result(
      Effect.flatMap(span("prepare")(query.prepare(rawFilters, conn.ctx)), (filters) =>
        Effect.andThen(tracingEnabled() ? annotate("nostr.filter_shape", filterShape(filters)) : Effect.void, span("count")(query.count(conn.ctx, filters)))
      )
    )
    if (n._tag === "Failure") {
      yield* annotate("nostr.result", n.failure.prefix)
      return yield* closedFor(conn, subId, n.failure)
    }
    yield* annotate("nostr.rows", n.success.count)
    yield* conn.send(encodeCount(subId, n.success.count, false, n.success.hll))
  })
