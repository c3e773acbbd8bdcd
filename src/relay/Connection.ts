/**
 * One WebSocket connection: an object (no fiber, no scope of its own) that
 * owns the connection's subscriptions, its in-flight tasks and its bounded
 * outbound queue. An idle connection costs this object, its auth session and
 * the socket: the task set, the REQ map, the outbound queue and the NIP-77
 * sessions are made on first use.
 *
 * - Inbound: each text frame is decoded and routed to its handler module
 *   (handlers/: event, req, count, auth, neg). EVENT/COUNT/AUTH run as task
 *   fibers (so a client's in-flight EVENTs are batched together by the
 *   store); each REQ runs in a fiber keyed by its subscription id, so a new
 *   REQ with the same id interrupts the old one. Past `maxPendingMessages`
 *   in-flight tasks the socket stops being read.
 * - Outbound (Outbound.ts): frames go straight to the socket while it keeps
 *   up, else into a bounded queue. Query results wait for room; live events
 *   cannot wait, so a client whose queue is full gets a NOTICE and is
 *   disconnected (slow consumer).
 * - On open the client gets a NIP-42 challenge (`["AUTH", challenge]`).
 * - Supervision: when the socket closes, its subscriptions are removed, its
 *   fibers interrupted (and awaited), its NIP-77 sessions closed, then the
 *   server is told (`ConnectionHost.ended`). A defect in one of its fibers, or
 *   an exception while routing a message, is logged and ends this connection only.
 */
import { Cause, Effect, Exit, Fiber, Metric } from "effect"
import type { AuthSession } from "../auth/AuthSessions.ts"
import type { ConnectionSessions } from "../negentropy/NegentropySessions.ts"
import { decodeClientMessage, encodeAuth, encodeNegErr, encodeNotice, encodeOk, type ClientMessage } from "../nostr/index.ts"
import * as M from "../observability/metrics.ts"
import { messageSpan, nowNanos, tracingEnabled } from "../observability/tracing.ts"
import type { RequestContext } from "../policy/Policy.ts"
import { onAuth } from "./handlers/auth.ts"
import type { Conn, RelayServices } from "./handlers/Conn.ts"
import { onCount } from "./handlers/count.ts"
import { onEvent } from "./handlers/event.ts"
import { onNegMsg, onNegOpen } from "./handlers/neg.ts"
import { onReq } from "./handlers/req.ts"
import { Outbound } from "./Outbound.ts"
import type { Transport, TransportListener } from "./Transport.ts"

/** Bytes buffered in the socket above which frames wait in the bounded queue. */
const SOCKET_HIGH_WATER = 1024 * 1024

export interface ConnectionInfo {
  readonly id: number
  readonly ip: string
  /** The Host header of the upgrade request (the relay URL NIP-42 expects when `relayUrl` is not set). */
  readonly host?: string | undefined
}

/** What every connection shares with the server (one object for the whole server). */
export interface ConnectionHost {
  readonly services: RelayServices
  /** Runs an effect as a fiber of its own with the server's services (logger, tracer, metrics). */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  /** The connection is over: its socket closed and its fibers ended. Called once. */
  readonly ended: (connection: Connection) => void
}

/** What the server keeps of a connection: periodic upkeep and graceful shutdown. */
export interface ConnectionControl {
  readonly ip: string
  /** Idle timeout and ping keepalive; `now` in ms, `pingDue` when a ping round is due. Synchronous. */
  housekeeping(now: number, pingDue: boolean): void
  /** Stops reading new messages and waits for in-flight ones (EVENTs being stored) to finish. */
  drain(): Effect.Effect<void>
  /** Sends a NOTICE and closes the socket with the given close code. */
  goAway(code: number, notice: string): Effect.Effect<void>
  /** Drops the socket at once and ends the connection (its fibers interrupted) without waiting for the close event. */
  abort(): void
}

type AnyFiber = Fiber.Fiber<unknown, unknown>

export class Connection implements Conn, ConnectionControl, TransportListener {
  readonly id: number
  readonly ip: string
  readonly ctx: RequestContext
  readonly session: AuthSession
  readonly services: RelayServices
  private readonly host: ConnectionHost
  private readonly transport: Transport
  private negentropySessions: ConnectionSessions | undefined = undefined
  private outboundQueue: Outbound | undefined = undefined
  /** In-flight EVENT/COUNT/AUTH/NEG tasks. */
  private tasks: Set<AnyFiber> | undefined = undefined
  /** In-flight REQs by subscription id. */
  private subs: Map<string, AnyFiber> | undefined = undefined
  /** With tracing on: the message's server span, from the frame's arrival, decode included. */
  private timing: { readonly receivedAt: bigint; readonly decodedAt: bigint } | undefined = undefined
  readonly openedAt: number
  private lastActivity: number
  private pending = 0
  private missedPongs = 0
  private refusedInARow = 0
  private closing = false
  private paused = false
  private draining = false
  /** The socket closed (or the connection was aborted): no new fibers; finalization started. */
  private ended = false

  constructor(transport: Transport, info: ConnectionInfo, host: ConnectionHost) {
    this.id = info.id
    this.ip = info.ip
    this.host = host
    this.services = host.services
    this.transport = transport
    this.session = host.services.auth.open(info.host)
    this.ctx = { connectionId: info.id, ip: info.ip, authenticated: this.session.pubkeys, relayUrls: this.session.relayUrls }
    this.openedAt = this.lastActivity = Date.now()
  }

  /** Starts reading and sends the NIP-42 challenge. */
  start(): void {
    this.transport.listen(this)
    this.transport.send(encodeAuth(this.services.auth.challengeOf(this.session)))
  }

  /** This connection's NIP-77 sessions (made on first use). */
  get negentropy(): ConnectionSessions {
    return (this.negentropySessions ??= this.services.negentropySessions.forConnection())
  }

  private get outbound(): Outbound {
    return (this.outboundQueue ??= new Outbound(this.transport, {
      capacity: this.services.config.outboundQueueSize,
      highWater: SOCKET_HIGH_WATER,
      onOverflow: () => {
        Effect.runFork(Metric.update(M.slowConsumerDisconnects, 1))
        this.closeNow(1008, "error: disconnected, the client is not reading its messages fast enough")
      }
    }))
  }

  // ------------------------------------------------------------ outbound (Conn)
  private closeNow(code: number, notice: string): void {
    if (this.closing) return
    this.closing = true
    this.outboundQueue?.clear()
    this.transport.send(encodeNotice(notice))
    this.transport.close(code, notice.slice(0, 120))
    // Reading may be paused (backpressure); the close handshake needs the client's close frame.
    if (this.paused) this.transport.resume()
  }

  /** For live events: never waits; a full queue means the client is not reading. */
  sendLive(frame: string): void {
    if (!this.closing) this.outbound.offerLive(frame)
  }

  /** For answers: waits for room in the queue. */
  send(frame: string): Effect.Effect<void> {
    return this.closing ? Effect.void : this.outbound.offer(frame)
  }

  sendAll(frames: Array<string>): Effect.Effect<void> {
    return this.closing ? Effect.void : this.outbound.offerAll(frames)
  }

  isClosing(): boolean {
    return this.closing
  }

  rateOutcome(allowed: boolean): void {
    if (allowed) {
      this.refusedInARow = 0
      return
    }
    this.refusedInARow++
    const after = this.services.config.rateLimitDisconnectAfter
    if (after > 0 && this.refusedInARow >= after) {
      Effect.runFork(Metric.update(M.rateLimitDisconnects, 1))
      this.closeNow(1008, `rate-limited: ${this.refusedInARow} messages refused in a row; disconnecting`)
    }
  }

  // ------------------------------------------------------------ fibers
  /** A fiber that ended in a defect (not an interruption) ends this connection. */
  private supervise(exit: Exit.Exit<unknown, unknown>): void {
    if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) this.fail(exit.cause)
  }

  private fail(cause: Cause.Cause<unknown>): void {
    this.host.runFork(Effect.logWarning("connection failed", cause).pipe(Effect.annotateLogs({ connection: this.id, ip: this.ip })))
    this.closeNow(1011, "error: internal error")
  }

  private runTask(effect: Effect.Effect<unknown>): void {
    if (this.ended) return
    const fiber = this.host.runFork(effect)
    const tasks = (this.tasks ??= new Set())
    tasks.add(fiber)
    fiber.addObserver((exit) => {
      tasks.delete(fiber)
      this.supervise(exit)
    })
  }

  private runSub(subId: string, effect: Effect.Effect<unknown>): void {
    if (this.ended) return
    const fiber = this.host.runFork(effect)
    const subs = (this.subs ??= new Map())
    const previous = subs.get(subId)
    // Install the replacement before the old one is interrupted (as FiberMap does).
    subs.set(subId, fiber)
    previous?.interruptUnsafe()
    fiber.addObserver((exit) => {
      if (subs.get(subId) === fiber) subs.delete(subId)
      this.supervise(exit)
    })
  }

  /** CLOSE: the REQ still running under this id is interrupted (and awaited). */
  private closeSub(subId: string): void {
    const fiber = this.subs?.get(subId)
    if (fiber === undefined) return
    this.subs!.delete(subId)
    this.runTask(Fiber.interrupt(fiber))
  }

  // ------------------------------------------------------------ inbound backpressure
  private taskStarted(): void {
    this.pending++
    if (!this.paused && this.pending >= this.services.config.maxPendingMessages) {
      this.paused = true
      this.transport.pause()
    }
  }

  private taskEnded(): void {
    this.pending--
    if (this.paused && !this.draining && this.pending <= this.services.config.maxPendingMessages / 2) {
      this.paused = false
      this.transport.resume()
    }
  }

  private track<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    this.taskStarted()
    return Effect.ensuring(effect, Effect.sync(() => this.taskEnded()))
  }

  private traced<A, E, R>(name: string, attributes: Record<string, unknown>, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const timing = this.timing
    return timing === undefined ? self : messageSpan(name, timing.receivedAt, timing.decodedAt, { "nostr.connection": this.id, ...attributes })(self)
  }

  // ------------------------------------------------------------ router
  private route(m: ClientMessage): void {
    switch (m.type) {
      case "EVENT":
        this.runTask(this.track(this.traced("EVENT", {}, onEvent(this, m.event))))
        return
      case "REQ":
        this.runSub(m.subId, this.track(this.traced("REQ", { "nostr.filters": m.filters.length }, onReq(this, m.subId, m.filters))))
        return
      case "CLOSE":
        this.services.index.remove(this.id, m.subId)
        this.closeSub(m.subId)
        return
      case "COUNT":
        this.runTask(this.track(this.traced("COUNT", { "nostr.filters": m.filters.length }, onCount(this, m.subId, m.filters))))
        return
      case "AUTH":
        this.runTask(this.track(onAuth(this, m.event)))
        return
      case "NEG-OPEN":
      case "NEG-MSG":
      case "NEG-CLOSE":
        if (!this.services.config.negentropy) {
          if (m.type !== "NEG-CLOSE") this.runTask(this.send(encodeNegErr(m.subId, "blocked: negentropy sync (NIP-77) is not enabled on this relay")))
          return
        }
        if (m.type === "NEG-OPEN") this.runTask(this.track(onNegOpen(this, m.subId, m.filter, m.message)))
        else if (m.type === "NEG-MSG") this.runTask(this.track(onNegMsg(this, m.subId, m.message)))
        else this.negentropySessions?.close(m.subId)
        return
    }
  }

  // ------------------------------------------------------------ socket events (TransportListener)
  onMessage(text: string): void {
    if (this.closing || this.draining) return
    this.lastActivity = Date.now()
    try {
      const receivedAt = tracingEnabled() ? nowNanos() : undefined
      const decoded = decodeClientMessage(text)
      if ("message" in decoded) {
        this.timing = receivedAt === undefined ? undefined : { receivedAt, decodedAt: nowNanos() }
        return this.route(decoded.message)
      }
      const f = decoded.failure
      if (f.eventId !== undefined) this.runTask(this.send(encodeOk(f.eventId, false, `invalid: ${f.error}`)))
      else this.runTask(this.send(encodeNotice(`invalid: ${f.error}`)))
    } catch (e) {
      this.fail(Cause.die(e))
    }
  }

  onPong(): void {
    this.missedPongs = 0
  }

  onClose(): void {
    this.closing = true
    this.finish()
  }

  // ------------------------------------------------------------ keepalive and idle timeout
  // Driven by the server's single ticker, not a fiber per connection.
  housekeeping(now: number, pingDue: boolean): void {
    if (this.closing) return
    const config = this.services.config
    if (config.idleTimeoutSeconds > 0 && this.pending === 0 && this.services.index.countFor(this.id) === 0 &&
        now - this.lastActivity >= config.idleTimeoutSeconds * 1000) {
      this.closeNow(1000, "error: closing idle connection")
      return
    }
    const negentropy = this.negentropySessions
    if (negentropy !== undefined && negentropy.size() > 0) {
      for (const id of negentropy.closeIdle(now - config.negentropyIdleSeconds * 1000)) {
        this.sendLive(encodeNegErr(id, "closed: the negentropy session was idle too long"))
      }
    }
    if (pingDue) {
      if (this.missedPongs >= 2) {
        this.closing = true
        this.transport.terminate()
        return
      }
      this.missedPongs++
      this.transport.ping()
    }
  }

  // ------------------------------------------------------------ lifecycle
  drain(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.draining = true
      if (!this.paused) {
        this.paused = true
        this.transport.pause()
      }
      // REQs end with the connection; EVENTs being stored are waited for.
      const tasks = this.tasks
      if (tasks === undefined) return Effect.void
      return Effect.whileLoop({
        while: () => tasks.size > 0,
        body: () => Fiber.await(tasks.values().next().value!),
        step: () => {}
      })
    })
  }

  goAway(code: number, notice: string): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.closing
        ? Effect.void
        : Effect.asVoid(
            // Queued answers (the OKs of drained EVENTs) go out first, then the NOTICE, then the close.
            this.outbound.offer(() => {
              if (this.closing) return
              this.closing = true
              this.transport.send(encodeNotice(notice))
              this.transport.close(code, notice.slice(0, 120))
              // drain paused reading; the close handshake needs the client's close frame read,
              // else the socket lingers until shutdown terminates it. Messages are ignored (closing).
              this.transport.resume()
            }).pipe(
              // A client that stopped reading can have a full queue: waiting for room would hold up
              // shutdown forever, so after a moment it is closed at once (its queued frames dropped).
              Effect.timeoutOrElse({ duration: "1 second", orElse: () => Effect.sync(() => this.closeNow(code, notice)) })
            )
          )
    )
  }

  abort(): void {
    this.closing = true
    this.transport.terminate()
    this.finish()
  }

  /** Removes the subscriptions, interrupts and awaits the fibers, closes NIP-77 sessions, tells the server. Once. */
  private finish(): void {
    if (this.ended) return
    this.ended = true
    const index = this.services.index
    // No live event goes to a closed socket.
    index.removeConnection(this.id)
    const fibers: Array<AnyFiber> = []
    if (this.subs !== undefined) for (const f of this.subs.values()) fibers.push(f)
    if (this.tasks !== undefined) for (const f of this.tasks) fibers.push(f)
    const done = () => {
      // Again: a REQ interrupted mid-way may have registered its subscription meanwhile.
      index.removeConnection(this.id)
      this.negentropySessions?.closeAll()
      this.outboundQueue?.clear()
      this.host.ended(this)
    }
    if (fibers.length === 0) done()
    else this.host.runFork(Effect.ensuring(Fiber.interruptAll(fibers), Effect.sync(done)))
  }
}
