/**
 * One WebSocket connection: a scoped fiber that owns the connection's
 * subscriptions, its in-flight tasks and its bounded outbound queue.
 *
 * - Inbound: each text frame is decoded and routed. EVENT/COUNT/AUTH run as
 *   tasks in the connection's FiberSet (so a client's in-flight EVENTs are
 *   batched together by the store); each REQ runs in a FiberMap keyed by its
 *   subscription id, so a new REQ with the same id interrupts the old one.
 *   Past `maxPendingMessages` in-flight tasks the socket stops being read.
 * - Outbound (Outbound.ts): frames go straight to the socket while it keeps
 *   up, else into a bounded queue. Query results wait for room; live events
 *   cannot wait, so a client whose queue is full gets a NOTICE and is
 *   disconnected (slow consumer).
 * - When the scope closes, finalizers remove its subscriptions and interrupt
 *   its tasks; a defect here ends this connection only.
 */
import { Clock, Effect, FiberMap, FiberSet, Metric, type Scope } from "effect"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Ingest } from "../ingest/Ingest.ts"
import {
  decodeClientMessage,
  encodeClosed,
  encodeCount,
  encodeEose,
  encodeNegErr,
  encodeNotice,
  encodeOk,
  eventFramePrefix,
  eventJson,
  Invalid,
  Blocked,
  reasonOf,
  type ClientMessage,
  type Filter,
  type NostrEvent,
  type Rejection
} from "../nostr/index.ts"
import * as M from "../observability/metrics.ts"
import type { RequestContext } from "../policy/Policy.ts"
import { Query } from "../query/Query.ts"
import { SubscriptionIndex } from "../subscriptions/SubscriptionIndex.ts"
import { makeOutbound } from "./Outbound.ts"
import type { Transport } from "./Transport.ts"

/** Bytes buffered in the socket above which frames wait in the bounded queue. */
const SOCKET_HIGH_WATER = 1024 * 1024

export interface ConnectionInfo {
  readonly id: number
  readonly ip: string
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
  const config = yield* RelayConfig
  const index = yield* SubscriptionIndex
  const ingest = yield* Ingest
  const query = yield* Query

  const ctx: RequestContext = { connectionId: info.id, ip: info.ip, authenticated: new Set() }
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

  // ------------------------------------------------------------ handlers
  const onEvent = (raw: unknown) =>
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      yield* Metric.update(M.eventsReceived, 1)
      const answer = yield* ingest.handle(raw, ctx)
      // NIP-01: OK needs the event id; an event without a readable one can only get a NOTICE.
      if (!answer.accepted && answer.id === "") yield* send(encodeNotice(answer.message))
      else yield* send(encodeOk(answer.id, answer.accepted, answer.message))
      const ended = yield* Clock.currentTimeMillis
      yield* Metric.update(M.eventsResult(answer.result), 1)
      yield* Metric.update(M.eventToOkSeconds, (ended - started) / 1000)
    })

  const closedFor = (subId: string, r: Rejection) => send(encodeClosed(subId, reasonOf(r)))

  const checkSubId = (subId: string): Rejection | undefined =>
    subId.length > config.maxSubidLength
      ? new Invalid({ message: `subscription id is longer than ${config.maxSubidLength} characters` })
      : undefined

  const onReq = (subId: string, rawFilters: ReadonlyArray<unknown>) =>
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      yield* Metric.update(M.reqsReceived, 1)
      const bad = checkSubId(subId)
      if (bad) return yield* closedFor(subId, bad)
      const replacing = index.remove(info.id, subId)
      if (!replacing && index.countFor(info.id) >= config.maxSubscriptions) {
        return yield* closedFor(subId, new Blocked({ message: `too many open subscriptions (max ${config.maxSubscriptions})` }))
      }
      const prepared = yield* Effect.result(query.prepare(rawFilters, ctx))
      if (prepared._tag === "Failure") return yield* closedFor(subId, prepared.failure)
      const filters = prepared.success

      // Register the live subscription before the query runs, so nothing stored
      // meanwhile is missed; ids delivered live during the catch-up are skipped
      // in the stored results so no event is sent twice.
      const prefix = eventFramePrefix(subId)
      let catchingUp: Set<string> | undefined = new Set()
      index.add({
        connectionId: info.id,
        subId,
        filters: filters.map(({ limit: _limit, ...live }): Filter => live),
        deliver: (e: NostrEvent) => {
          catchingUp?.add(e.id)
          sendLive(prefix + eventJson(e) + "]")
        }
      })
      const result = yield* Effect.result(query.run(filters))
      if (result._tag === "Failure") {
        index.remove(info.id, subId)
        return yield* closedFor(subId, result.failure)
      }
      const frames: Array<string> = []
      for (const e of result.success) if (!catchingUp.has(e.id)) frames.push(prefix + eventJson(e) + "]")
      frames.push(encodeEose(subId))
      catchingUp = undefined
      if (!closing) yield* outbound.offerAll(frames)
      const ended = yield* Clock.currentTimeMillis
      yield* Metric.update(M.reqToEoseSeconds, (ended - started) / 1000)
    })

  const onCount = (subId: string, rawFilters: ReadonlyArray<unknown>) =>
    Effect.gen(function* () {
      yield* Metric.update(M.countsReceived, 1)
      const bad = checkSubId(subId)
      if (bad) return yield* closedFor(subId, bad)
      const n = yield* Effect.result(Effect.flatMap(query.prepare(rawFilters, ctx), query.count))
      if (n._tag === "Failure") return yield* closedFor(subId, n.failure)
      yield* send(encodeCount(subId, n.success))
    })

  const route = (m: ClientMessage) => {
    switch (m.type) {
      case "EVENT":
        runTask(track(onEvent(m.event)))
        return
      case "REQ":
        runSub(m.subId, track(onReq(m.subId, m.filters)))
        return
      case "CLOSE":
        index.remove(info.id, m.subId)
        runTask(FiberMap.remove(subs, m.subId))
        return
      case "COUNT":
        runTask(track(onCount(m.subId, m.filters)))
        return
      case "AUTH": {
        const id = typeof m.event === "object" && m.event !== null ? (m.event as { id?: unknown }).id : undefined
        const reason = "restricted: authentication (NIP-42) is not enabled on this relay"
        // As for EVENT: OK needs the event id, so without one the answer is a NOTICE.
        runTask(send(typeof id === "string" && id !== "" ? encodeOk(id, false, reason) : encodeNotice(reason)))
        return
      }
      case "NEG-OPEN":
      case "NEG-MSG":
      case "NEG-CLOSE":
        runTask(send(encodeNegErr(m.subId, "blocked: negentropy sync (NIP-77) is not enabled on this relay")))
        return
    }
  }

  transport.onMessage((text) => {
    if (closing || draining) return
    lastActivity = Date.now()
    const decoded = decodeClientMessage(text)
    if ("message" in decoded) return route(decoded.message)
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
  yield* Effect.addFinalizer(() => Effect.sync(() => index.removeConnection(info.id)))

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
