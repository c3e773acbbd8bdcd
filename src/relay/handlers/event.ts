/** EVENT: rate limit, then the ingest pipeline; answers OK (or NOTICE when the event has no readable id). */
import { Clock, type Context, Effect } from "effect"
import { encodeNotice, encodeOk, RateLimited } from "../../nostr/index.ts"
import * as M from "../../observability/metrics.ts"
import { annotate, tracingEnabled } from "../../observability/tracing.ts"
import { withChallenge, type Conn } from "./Conn.ts"

const rateLimited = new RateLimited({ message: "too many events, slow down" })

const idOf = (raw: unknown): string => {
  const id = typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined
  return typeof id === "string" ? id : ""
}

// Metrics are updated in place (updateUnsafe with the fiber's context, where Metric.update would be
// an Effect step and ~300 bytes of closures each, four times an EVENT); time is the fiber's Clock.
export const onEvent = (conn: Conn, raw: unknown) =>
  Effect.withFiber((fiber) => {
    const context = fiber.context
    const clock = fiber.getRef(Clock.Clock)
    const started = clock.currentTimeMillisUnsafe()
    M.eventsReceived.updateUnsafe(1, context)
    return handle(conn, raw, context, clock, started)
  })

const handle = (conn: Conn, raw: unknown, context: Context.Context<never>, clock: Clock.Clock, started: number) =>
  Effect.gen(function* () {
    const { ingest, limiter } = conn.services
    const allowed = yield* limiter.tryEvent({ connectionId: conn.id, ip: conn.ip, pubkeys: conn.ctx.authenticated })
    conn.rateOutcome(allowed)
    if (!allowed) {
      const id = idOf(raw)
      const reason = `${rateLimited.prefix}: ${rateLimited.message}`
      yield* conn.send(id === "" ? encodeNotice(reason) : encodeOk(id, false, reason))
      M.eventsResult("rate-limited").updateUnsafe(1, context)
      return
    }
    const answer = yield* ingest.handle(raw, conn.ctx)
    if (tracingEnabled()) {
      const kind = typeof raw === "object" && raw !== null ? (raw as { kind?: unknown }).kind : undefined
      yield* annotate("nostr.kind", typeof kind === "number" ? kind : -1)
      yield* annotate("nostr.result", answer.result)
      yield* annotate("nostr.event_id", answer.id)
    }
    // NIP-01: OK needs the event id; an event without a readable one can only get a NOTICE.
    if (!answer.accepted && answer.id === "") yield* conn.send(encodeNotice(answer.message))
    else if (answer.rejection !== undefined) {
      yield* conn.sendAll(withChallenge(conn, answer.rejection, encodeOk(answer.id, false, answer.message)))
    } else yield* conn.send(encodeOk(answer.id, answer.accepted, answer.message))
    const ended = clock.currentTimeMillisUnsafe()
    M.eventsResult(answer.result).updateUnsafe(1, context)
    M.eventToOkSeconds.updateUnsafe((ended - started) / 1000, context)
    M.okLatency.record(ended - started, ended)
  })
