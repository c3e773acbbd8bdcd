/**
 * One WebSocket connection: a scoped fiber that owns the connection's
 * subscriptions, its in-flight tasks and its bounded outbound queue.
 *
 * - Inbound: each text frame is decoded and routed to its handler module
 *   (handlers/: event, req, count, auth, neg). EVENT/COUNT/AUTH run as
 *   tasks in the connection's FiberSet (so a client's in-flight EVENTs are
 *   batched together by the store); each REQ runs in a FiberMap keyed by its
 *   subscription id, so a new REQ with the same id interrupts the old one.
 *   Past `maxPendingMessages` in-flight tasks the socket stops being read.
 * - Outbound (Outbound.ts): frames go straight to the socket while it keeps
 *   up, else into a bounded queue. Query results wait for room; live events
 *   cannot wait, so a client whose queue is full gets a NOTICE and is
 *   disconnected (slow consumer).
 * - On open the client gets a NIP-42 challenge (`["AUTH", challenge]`).
 * - When the scope closes, finalizers remove its subscriptions and interrupt
 *   its tasks; its auth session goes with it; a defect here ends this
 *   connection only.
 */
import { Effect, FiberMap, FiberSet, Metric, type Scope } from "effect"
import { AuthSessions } from "../auth/AuthSessions.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Ingest } from "../ingest/Ingest.ts"
import { Membership } from "../membership/Membership.ts"
import { NegentropySessions } from "../negentropy/NegentropySessions.ts"
import { decodeClientMessage, encodeAuth, encodeNegErr, encodeNotice, encodeOk, type ClientMessage } from "../nostr/index.ts"
import * as M from "../observability/metrics.ts"
import { messageSpan, nowNanos, tracingEnabled } from "../observability/tracing.ts"
import { Policy, type RequestContext } from "../policy/Policy.ts"
import { RateLimiter } from "../policy/RateLimiter.ts"
import { Query } from "../query/Query.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { onAuth } from "./handlers/auth.ts"
import type { Conn, RelayServices } from "./handlers/Conn.ts"
import { onCount } from "./handlers/count.ts"
import { onEvent } from "./handlers/event.ts"
import { onNegMsg, onNegOpen } from "./handlers/neg.ts"
import { onReq } from "./handlers/req.ts"
import { makeOutbound } from "./Outbound.ts"
import type { Transport } from "./Transport.ts"

/** Bytes buffered in the socket above which frames wait in the bounded queue. */
const SOCKET_HIGH_WATER = 1024 * 1024

export interface ConnectionInfo {
  readonly id: number
  readonly ip: string
  /** The Host header of the upgrade request (the relay URL NIP-42 expects when `relayUrl` is not set). */
  readonly host?: string | undefined
}

/** What the server keeps of a connection: periodic upkeep and graceful shutdown. */
export interface ConnectionControl {
  /** Idle timeout and ping keepalive; `now` in ms, `pingDue` when a ping round is due. Synchronous. */
  readonly housekeeping: (now: number, pingDue: boolean) => void
  /** Stops reading new messages and waits for in-flight ones (EVENTs being stored) to finish. */
  readonly drain: Effect.Effect<void>
  /** Sends a NOTICE and closes the socket with the given close code. */
  readonly goAway: (code: number, notice: string) => Effect.Effect<void>
}

export const runConnection = Effect.fnUntraced(function* (
  transport: Transport,
  info: ConnectionInfo,
  register: (control: ConnectionControl) => Effect.Effect<void, never, Scope.Scope>
) {
  const services: RelayServices = {
    config: yield* RelayConfig,
    index: yield* SubscriptionIndex,
    ingest: yield* Ingest,
    query: yield* Query,
    policy: yield* Policy,
    auth: yield* AuthSessions,
    limiter: yield* RateLimiter,
    membership: yield* Membership,
    negentropySessions: yield* NegentropySessions
  }
  const { config, index } = services
  const session = services.auth.open(info.host)
  const negentropy = services.negentropySessions.forConnection()
  const ctx: RequestContext = { connectionId: info.id, ip: info.ip, authenticated: session.pubkeys, relayUrls: session.relayUrls }
  const tasks = yield* FiberSet.make<unknown, never>()
  const runTask = yield* FiberSet.runtime(tasks)<never>()
  const subs = yield* FiberMap.make<string, unknown, never>()
  const runSub = yield* FiberMap.runtime(subs)<never>()

  let closing = false
  let pending = 0
  let paused = false
  let draining = false
  let lastActivity = Date.now()

  // ------------------------------------------------------------ outbound
  const outbound = makeOutbound(transport, {
    capacity: config.outboundQueueSize,
    highWater: SOCKET_HIGH_WATER,
    onOverflow: () => {
      Effect.runFork(Metric.update(M.slowConsumerDisconnects, 1))
      closeNow(1008, "error: disconnected, the client is not reading its messages fast enough")
    }
  })
  const closeNow = (code: number, notice: string) => {
    if (closing) return
    closing = true
    outbound.clear()
    transport.send(encodeNotice(notice))
    transport.close(code, notice.slice(0, 120))
    // Reading may be paused (backpressure); the close handshake needs the client's close frame.
    if (paused) transport.resume()
  }

  /** For live events: never waits; a full queue means the client is not reading. */
  const sendLive = (frame: string) => {
    if (!closing) outbound.offerLive(frame)
  }
  /** For answers: waits for room in the queue. */
  const send = (frame: string) => (closing ? Effect.void : outbound.offer(frame))

  // ------------------------------------------------------------ inbound backpressure
  const taskStarted = () => {
    pending++
    if (!paused && pending >= config.maxPendingMessages) {
      paused = true
      transport.pause()
    }
  }
  const taskEnded = () => {
    pending--
    if (paused && !draining && pending <= config.maxPendingMessages / 2) {
      paused = false
      transport.resume()
    }
  }
  const track = <A, E>(effect: Effect.Effect<A, E>) => {
    taskStarted()
    return Effect.ensuring(effect, Effect.sync(taskEnded))
  }

  // ------------------------------------------------------------ router
  let refusedInARow = 0
  const conn: Conn = {
    id: info.id,
    ip: info.ip,
    ctx,
    session,
    negentropy,
    services,
    send,
    sendAll: (frames) => (closing ? Effect.void : outbound.offerAll(frames)),
    sendLive,
    isClosing: () => closing,
    rateOutcome: (allowed) => {
      if (allowed) {
        refusedInARow = 0
        return
      }
      refusedInARow++
      if (config.rateLimitDisconnectAfter > 0 && refusedInARow >= config.rateLimitDisconnectAfter) {
        Effect.runFork(Metric.update(M.rateLimitDisconnects, 1))
        closeNow(1008, `rate-limited: ${refusedInARow} messages refused in a row; disconnecting`)
      }
    }
  }

  /** With tracing on: the message's server span, from the frame's arrival, decode included. */
  let timing: { readonly receivedAt: bigint; readonly decodedAt: bigint } | undefined
  const traced = <A, E, R>(name: string, attributes: Record<string, unknown>, self: Effect.Effect<A, E, R>) =>
    timing === undefined ? self : messageSpan(name, timing.receivedAt, timing.decodedAt, { "nostr.connection": info.id, ...attributes })(self)

  const route = (m: ClientMessage) => {
    switch (m.type) {
      case "EVENT":
        runTask(track(traced("EVENT", {}, onEvent(conn, m.event))))
        return
      case "REQ":
        runSub(m.subId, track(traced("REQ", { "nostr.filters": m.filters.length }, onReq(conn, m.subId, m.filters))))
        return
      case "CLOSE":
        index.remove(info.id, m.subId)
        runTask(FiberMap.remove(subs, m.subId))
        return
      case "COUNT":
        runTask(track(traced("COUNT", { "nostr.filters": m.filters.length }, onCount(conn, m.subId, m.filters))))
        return
      case "AUTH":
        runTask(track(onAuth(conn, m.event)))
        return
      case "NEG-OPEN":
      case "NEG-MSG":
      case "NEG-CLOSE":
        if (!config.negentropy) {
          if (m.type !== "NEG-CLOSE") runTask(send(encodeNegErr(m.subId, "blocked: negentropy sync (NIP-77) is not enabled on this relay")))
          return
        }
        if (m.type === "NEG-OPEN") runTask(track(onNegOpen(conn, m.subId, m.filter, m.message)))
        else if (m.type === "NEG-MSG") runTask(track(onNegMsg(conn, m.subId, m.message)))
        else negentropy.close(m.subId)
        return
    }
  }

  transport.onMessage((text) => {
    if (closing || draining) return
    lastActivity = Date.now()
    const receivedAt = tracingEnabled() ? nowNanos() : undefined
    const decoded = decodeClientMessage(text)
    if ("message" in decoded) {
      timing = receivedAt === undefined ? undefined : { receivedAt, decodedAt: nowNanos() }
      return route(decoded.message)
    }
    const f = decoded.failure
    if (f.eventId !== undefined) runTask(send(encodeOk(f.eventId, false, `invalid: ${f.error}`)))
    else runTask(send(encodeNotice(`invalid: ${f.error}`)))
  })

  // ------------------------------------------------------------ keepalive and idle timeout
  // Driven by the server's single ticker (see `housekeeping`), not a fiber per connection.
  let missedPongs = 0
  transport.onPong(() => {
    missedPongs = 0
  })
  const housekeeping = (now: number, pingDue: boolean) => {
    if (closing) return
    if (config.idleTimeoutSeconds > 0 && pending === 0 && index.countFor(info.id) === 0 &&
        now - lastActivity >= config.idleTimeoutSeconds * 1000) {
      closeNow(1000, "error: closing idle connection")
      return
    }
    if (negentropy.size() > 0) {
      for (const id of negentropy.closeIdle(now - config.negentropyIdleSeconds * 1000)) {
        sendLive(encodeNegErr(id, "closed: the negentropy session was idle too long"))
      }
    }
    if (pingDue) {
      if (missedPongs >= 2) {
        closing = true
        transport.terminate()
        return
      }
      missedPongs++
      transport.ping()
    }
  }

  // ------------------------------------------------------------ lifecycle
  // NIP-42: every connection gets a challenge as it opens.
  transport.send(encodeAuth(services.auth.challengeOf(session)))
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      index.removeConnection(info.id)
      negentropy.closeAll()
    })
  )

  yield* register({
    housekeeping,
    drain: Effect.gen(function* () {
      draining = true
      if (!paused) {
        paused = true
        transport.pause()
      }
      // REQs end with the connection; EVENTs being stored are waited for.
      yield* FiberSet.awaitEmpty(tasks)
    }),
    goAway: (code, notice) =>
      closing
        ? Effect.void
        : Effect.asVoid(
            // Queued answers (the OKs of drained EVENTs) go out first, then the NOTICE, then the close.
            outbound.offer(() => {
              if (closing) return
              closing = true
              transport.send(encodeNotice(notice))
              transport.close(code, notice.slice(0, 120))
              // drain paused reading; the close handshake needs the client's close frame read,
              // else the socket lingers until shutdown terminates it. Messages are ignored (closing).
              transport.resume()
            }).pipe(
              // A client that stopped reading can have a full queue: waiting for room would hold up
              // shutdown forever, so after a moment it is closed at once (its queued frames dropped).
              Effect.timeoutOrElse({ duration: "1 second", orElse: () => Effect.sync(() => closeNow(code, notice)) })
            )
          )
  })

  yield* transport.closed
  closing = true
})
