/** EVENT: rate limit, then the ingest pipeline; answers OK (or NOTICE when the event has no readable id). */
import { Clock, Effect, Metric } from "effect"
import { encodeNotice, encodeOk, RateLimited } from "../../nostr/index.ts"
import * as M from "../../observability/metrics.ts"
import { annotate, tracingEnabled } from "../../observability/tracing.ts"
import { withChallenge, type Conn } from "./Conn.ts"

const rateLimited = new RateLimited({ message: "too many events, slow down" })

const idOf = (raw: unknown): string => {
  const id = typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined
  return typeof id === "string" ? id : ""
}

export const onEvent = (conn: Conn, raw: unknown) =>
  Effect.gen(function* () {
    const { ingest, limiter } = conn.services
    const started = yield* Clock.currentTimeMillis
    yield* Metric.update(M.eventsReceived, 1)
    const allowed = yield* limiter.tryEvent({ connectionId: conn.id, ip: conn.ip, pubkeys: conn.ctx.authenticated })
    conn.rateOutcome(allowed)
    if (!allowed) {
      const id = idOf(raw)
      const reason = `${rateLimited.prefix}: ${rateLimited.message}`
      yield* conn.send(id === "" ? encodeNotice(reason) : encodeOk(id, false, reason))
      yield* Metric.update(M.eventsResult("rate-limited"), 1)
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
    const ended = yield* Clock.currentTimeMillis
    yield* Metric.update(M.eventsResult(answer.result), 1)
    yield* Metric.update(M.eventToOkSeconds, (ended - started) / 1000)
    M.okLatency.record(ended - started, ended)
  })
