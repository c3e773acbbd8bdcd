/**
 * REQ: rate limit, subscription slots, filters and read policy, then the
 * subscription budgets (charged as the live subscription is registered, so a
 * REQ past them is refused before it is indexed or queried); the live
 * subscription is registered before the stored query runs, so nothing stored
 * meanwhile is missed, and ids delivered live during the catch-up are skipped
 * in the stored results so no event is sent twice. Every event sent, stored
 * or live, passes Policy.canServe for this connection.
 */
import { Clock, type Context, Effect, Metric } from "effect"
import {
  Blocked,
  encodeEose,
  eventFramePrefix,
  eventJson,
  Invalid,
  RateLimited,
  type Filter,
  type NostrEvent,
  type Rejection
} from "../../nostr/index.ts"
import { INVITE_KIND } from "../../membership/Membership.ts"
import * as M from "../../observability/metrics.ts"
import { annotate, span, tracingEnabled } from "../../observability/tracing.ts"
import type { PolicyShape, RequestContext } from "../../policy/Policy.ts"
import { overBudgetMessage } from "../../subscriptions/budget.ts"
import { closedFor, type Conn } from "./Conn.ts"

/** What a filter list looks like, for traces: its fields, not its values (e.g. "kinds,limit | #p,limit"). */
export const filterShape = (filters: ReadonlyArray<Filter>): string =>
  filters.map((f) => Object.keys(f).sort().join(",") || "{}").join(" | ")

export const checkSubId = (conn: Conn, subId: string): Rejection | undefined => {
  const max = conn.services.config.maxSubidLength
  return subId.length > max ? new Invalid({ message: `subscription id is longer than ${max} characters` }) : undefined
}

/** Ids of the events delivered live while the stored query runs (undefined once it is answered). */
interface CatchingUp {
  ids: Set<string> | undefined
}

/**
 * A subscription's live delivery. Made here, not inside onReq, so that the
 * closure does not keep the REQ's raw filters alive (a closure holds its
 * whole enclosing scope): the index keeps one copy of each value, the REQ's
 * own strings are let go once it is answered.
 */
const liveDelivery = (conn: Conn, policy: PolicyShape, ctx: RequestContext, prefix: string, catchingUp: CatchingUp) => (e: NostrEvent) => {
  if (!policy.canServe(ctx, e)) return
  catchingUp.ids?.add(e.id)
  conn.sendLive(prefix + eventJson(e) + "]")
}

// Metrics are updated in place (updateUnsafe with the fiber's context: no Effect step each); time is the fiber's Clock.
export const onReq = (conn: Conn, subId: string, rawFilters: ReadonlyArray<unknown>) =>
  Effect.withFiber((fiber) => {
    const context = fiber.context
    const clock = fiber.getRef(Clock.Clock)
    M.reqsReceived.updateUnsafe(1, context)
    return answer(conn, subId, rawFilters, context, clock, clock.currentTimeMillisUnsafe())
  })

const answer = (
  conn: Conn,
  subId: string,
  rawFilters: ReadonlyArray<unknown>,
  context: Context.Context<never>,
  clock: Clock.Clock,
  started: number
) =>
  Effect.gen(function* () {
    const { config, index, query, policy, limiter, membership } = conn.services
    const bad = checkSubId(conn, subId)
    if (bad) return yield* closedFor(conn, subId, bad)
    const replacing = index.remove(conn.id, subId)
    const allowed = yield* limiter.tryRead({ connectionId: conn.id, ip: conn.ip, pubkeys: conn.ctx.authenticated })
    conn.rateOutcome(allowed)
    if (!allowed) return yield* closedFor(conn, subId, new RateLimited({ message: "too many requests, slow down" }))
    if (!replacing && index.countFor(conn.id) >= config.maxSubscriptions) {
      return yield* closedFor(conn, subId, new Blocked({ message: `too many open subscriptions (max ${config.maxSubscriptions})` }))
    }
    const prepared = yield* Effect.result(span("prepare")(query.prepare(rawFilters, conn.ctx)))
    if (prepared._tag === "Failure") {
      yield* annotate("nostr.result", prepared.failure.prefix)
      return yield* closedFor(conn, subId, prepared.failure)
    }
    const filters = prepared.success
    if (tracingEnabled()) yield* annotate("nostr.filter_shape", filterShape(filters))

    const prefix = eventFramePrefix(subId)
    const ctx = conn.ctx
    const catchingUp: CatchingUp = { ids: new Set() }
    // Charged to the connection's and the IP's subscription budgets; refused before it is indexed or queried.
    const over = index.add({
      connectionId: conn.id,
      ip: conn.ip,
      subId,
      filters: filters.map(({ limit: _limit, ...live }): Filter => live),
      deliver: liveDelivery(conn, policy, ctx, prefix, catchingUp)
    })
    if (over !== undefined) {
      yield* Metric.update(M.subscriptionBudgetRefusals(over.budget), 1)
      yield* annotate("nostr.result", "blocked")
      return yield* closedFor(conn, subId, new Blocked({ message: overBudgetMessage(over) }))
    }
    // Tracing off: no span and no annotation steps around the query (the hot path).
    const traced = tracingEnabled()
    const result = yield* Effect.result(
      traced ? span("query")(Effect.tap(query.run(ctx, filters), (rows) => annotate("nostr.rows", rows.length))) : query.run(ctx, filters)
    )
    if (result._tag === "Failure") {
      index.remove(conn.id, subId)
      yield* annotate("nostr.result", result.failure.prefix)
      return yield* closedFor(conn, subId, result.failure)
    }
    const frames: Array<string> = []
    // NIP-43: an invite request gets a fresh invite code, signed on the fly (the read policy checked membership).
    if (membership.enabled && filters.some((f) => f.kinds?.includes(INVITE_KIND))) {
      const invite = yield* Effect.result(membership.inviteEvent)
      if (invite._tag === "Failure") {
        index.remove(conn.id, subId)
        return yield* closedFor(conn, subId, invite.failure)
      }
      frames.push(prefix + eventJson(invite.success) + "]")
    }
    // Stored events go out as the store keeps their text; ids are only looked at when live events came meanwhile.
    const caught = catchingUp.ids!
    catchingUp.ids = undefined
    if (caught.size === 0) for (const e of result.success) frames.push(prefix + e.json + "]")
    else for (const e of result.success) if (!caught.has(e.id)) frames.push(prefix + e.json + "]")
    frames.push(encodeEose(subId))
    if (!conn.isClosing()) yield* (traced ? span("send", { "nostr.frames": frames.length })(conn.sendAll(frames)) : conn.sendAll(frames))
    if (traced) yield* annotate("nostr.result", "eose")
    const ended = clock.currentTimeMillisUnsafe()
    M.reqToEoseSeconds.updateUnsafe((ended - started) / 1000, context)
    M.eoseLatency.record(ended - started, ended)
  })
