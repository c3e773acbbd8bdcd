/**
 * One outgoing connection to a relay, as sync, mirroring and the tools use
 * it: publish (resolved by OK), query (REQ until EOSE), live subscriptions,
 * NIP-77 messages, NIP-42 AUTH with a configured key when the relay asks.
 *
 * With `reconnect` on, a dropped connection is retried with exponential
 * backoff and jitter (capped); publishes wait in a bounded queue meanwhile
 * and are sent again after the reconnect (a relay answers a resent event as
 * a duplicate), queries and live subscriptions are asked again (events seen
 * before are not delivered twice). With it off (a one-shot sync), a dropped
 * connection fails whatever is waiting. Frames that are not NIP-01 messages
 * fail what is waiting as a protocol error and drop the connection.
 *
 * The core is callback-driven (a WebSocket is); every operation is also an
 * Effect failing with the tagged RelayClientError.
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js"
import { Effect } from "effect"
import { BoundedSet } from "../lib/BoundedSet.ts"
import { backoffDelay } from "./backoff.ts"
import { RelayClientError, type ClientOptions, type ConnectionState, type PublishResult, type RelayStats, type Subscription, type SubscriptionHandlers, type LiveSub, type PendingPublish, type PendingQuery, type Waiter } from "./relayClientTypes.ts"
import WebSocket from "ws"
import { signEvent, isHex64, type Filter, type NostrEvent } from "../nostr/index.ts"

export { RelayClientError } from "./relayClientTypes.ts"
export type { ClientErrorReason, ClientOptions, ConnectionState, PublishResult, RelayStats, Subscription, SubscriptionHandlers } from "./relayClientTypes.ts"
export { backoffDelay } from "./backoff.ts"

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

let nextSubId = 0
const newSubId = (prefix: string) => `${prefix}${(++nextSubId).toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`

export class RelayClient {
  readonly url: string
  private readonly opts: Required<Omit<ClientOptions, "authKey" | "authSigner" | "onState">> & Pick<ClientOptions, "authKey" | "authSigner" | "onState">
  private ws: WebSocket | undefined
  private state: ConnectionState = "connecting"
  private attempt = 0
  private everOpened = false
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private readonly publishes = new Map<string, PendingPublish>()
  private readonly queries = new Map<string, PendingQuery>()
  private readonly subs = new Map<string, LiveSub>()
  private readonly negs = new Map<string, Waiter<Uint8Array>>()
  private readyWaiters: Array<Waiter<void>> = []
  private challenge: string | undefined
  private authEventId: string | undefined
  private authenticated = false
  private authWaiters: Array<() => void> = []
  private counters = {
    connects: 0,
    disconnects: 0,
    framesSent: 0,
    framesReceived: 0,
    eventsReceived: 0,
    duplicatesDropped: 0,
    published: 0,
    accepted: 0,
    refused: 0,
    notices: 0,
    protocolErrors: 0
  }
  private lastError: string | undefined
  private lastNotice: string | undefined

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url
    this.opts = {
      reconnect: true,
      backoffBaseMs: 500,
      backoffMaxMs: 30_000,
      maxQueued: 1000,
      connectTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxFrameBytes: 64 * 1024 * 1024,
      random: Math.random,
      ...options
    }
    this.open()
  }

  // ------------------------------------------------------------ connection

  private setState(s: ConnectionState, error?: string) {
    this.state = s
    this.opts.onState?.(s, error)
  }

  private open() {
    this.setState("connecting")
    let ws: WebSocket
    try {
      ws = new WebSocket(this.url, { handshakeTimeout: this.opts.connectTimeoutMs, maxPayload: this.opts.maxFrameBytes, perMessageDeflate: false })
    } catch (e) {
      // A malformed URL: nothing to retry.
      this.lastError = errorText(e)
      this.shutdown(new RelayClientError({ url: this.url, reason: "unreachable", message: `cannot connect to ${this.url}: ${this.lastError}` }))
      return
    }
    this.ws = ws
    ws.on("open", () => this.onOpen())
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onFrame(isBinary ? "" : data.toString("utf8")))
    ws.on("error", (e) => {
      this.lastError = errorText(e)
    })
    ws.on("close", (code, reason) => this.onDrop(ws, code, reason.toString()))
  }

  private onOpen() {
    this.everOpened = true
    this.attempt = 0
    this.counters.connects++
    this.authenticated = false
    this.challenge = undefined
    this.setState("open")
    for (const w of this.readyWaiters) w.resolve()
    this.readyWaiters = []
    for (const [id, s] of this.subs) this.write(JSON.stringify(["REQ", id, ...s.filters()]))
    for (const q of this.queries.values()) this.write(q.frame)
    for (const p of this.publishes.values()) this.write(p.frame)
  }

  private onDrop(ws: WebSocket, code: number, reason: string) {
    if (ws !== this.ws) return
    this.ws = undefined
    if (this.state === "closed") return
    const why = this.everOpened
      ? `connection to ${this.url} dropped (code ${code}${reason ? `: ${reason}` : ""})`
      : `cannot connect to ${this.url}: ${this.lastError ?? `closed with code ${code}`}`
    if (this.state === "open") this.counters.disconnects++
    this.lastError = why
    const err = new RelayClientError({ url: this.url, reason: this.everOpened ? "disconnected" : "unreachable", message: why })
    // Negentropy sessions live on the connection: they cannot survive it.
    for (const [id, w] of this.negs) this.settle(this.negs, id, w, err)
    if (!this.opts.reconnect) return this.shutdown(err)
    const delay = backoffDelay(this.attempt++, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.opts.random)
    this.setState("backoff", why)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      if (this.state === "backoff") this.open()
    }, delay)
  }

  /** Ends the client: everything waiting fails with `err`. */
  private shutdown(err: RelayClientError) {
    this.setState("closed", err.message)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    for (const w of this.readyWaiters) w.reject(err)
    this.readyWaiters = []
    for (const [id, w] of this.publishes) this.settle(this.publishes, id, w, err)
    for (const [id, w] of this.queries) this.settle(this.queries, id, w, err)
    for (const [id, w] of this.negs) this.settle(this.negs, id, w, err)
    if (err.reason !== "closed") for (const s of this.subs.values()) s.handlers.onClosed?.(err.message)
    this.subs.clear()
    const ws = this.ws
    this.ws = undefined
    if (ws && ws.readyState <= WebSocket.OPEN) ws.terminate()
  }

  close(): void {
    if (this.state === "closed") return
    this.shutdown(new RelayClientError({ url: this.url, reason: "closed", message: `client for ${this.url} closed` }))
  }

  /** Drops the connection as if the network had (a reconnect follows when enabled); for a protocol violation. */
  private drop(code: number, why: string) {
    this.ws?.close(code, why.slice(0, 120))
    // A peer that does not complete the close handshake is cut off.
    const ws = this.ws
    setTimeout(() => ws?.terminate(), 2000).unref()
  }

  private write(frame: string) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(frame)
      this.counters.framesSent++
    }
  }

  private settle<A>(map: Map<string, Waiter<A>>, id: string, w: Waiter<A>, outcome: RelayClientError | { ok: A }) {
    map.delete(id)
    if (w.timer) clearTimeout(w.timer)
    if (outcome instanceof RelayClientError) w.reject(outcome)
    else w.resolve(outcome.ok)
  }

  private arm<A>(map: Map<string, Waiter<A>>, id: string, w: Waiter<A>, what: string, ms = this.opts.requestTimeoutMs) {
    w.timer = setTimeout(() => this.settle(map, id, w, new RelayClientError({ url: this.url, reason: "timeout", message: `${this.url} did not answer ${what} within ${ms} ms` })), ms)
  }

  private protocolError(why: string) {
    this.counters.protocolErrors++
    this.lastError = `${this.url} broke the protocol: ${why}`
    const err = new RelayClientError({ url: this.url, reason: "protocol", message: this.lastError })
    for (const [id, w] of this.publishes) this.settle(this.publishes, id, w, err)
    for (const [id, w] of this.queries) this.settle(this.queries, id, w, err)
    for (const [id, w] of this.negs) this.settle(this.negs, id, w, err)
    this.drop(1002, "protocol error")
  }

  // ------------------------------------------------------------ incoming

  private onFrame(text: string) {
    this.counters.framesReceived++
    let msg: unknown
    try {
      msg = JSON.parse(text)
    } catch {
      return this.protocolError(`a frame that is not JSON: ${JSON.stringify(text.slice(0, 80))}`)
    }
    if (!Array.isArray(msg) || typeof msg[0] !== "string") return this.protocolError(`a frame that is not a NIP-01 message: ${text.slice(0, 80)}`)
    const [type, a, b, c] = msg as [string, unknown, unknown, unknown]
    switch (type) {
      case "EVENT":
        return this.onEvent(a, b)
      case "EOSE":
        return this.onEose(a)
      case "CLOSED":
        return this.onClosed(a, b)
      case "OK":
        return this.onOk(a, b, c)
      case "NOTICE":
        return this.onNotice(a)
      case "AUTH":
        if (typeof a !== "string") return this.protocolError("an AUTH challenge that is not a string")
        this.challenge = a
        this.authenticated = false
        if (this.canAuth) this.sendAuth()
        return
      case "NEG-MSG":
        return this.onNegMsg(a, b)
      case "NEG-ERR":
        return this.onNegErr(a, b)
      case "COUNT":
        return
      default:
        return this.protocolError(`an unknown message type ${JSON.stringify(type).slice(0, 40)}`)
    }
  }

  private onEvent(subId: unknown, event: unknown) {
    if (typeof subId !== "string" || typeof event !== "object" || event === null || !isHex64((event as NostrEvent).id)) {
      return this.protocolError("an EVENT without a subscription id or an event id")
    }
    const e = event as NostrEvent
    this.counters.eventsReceived++
    const q = this.queries.get(subId)
    if (q) {
      if (q.seen.has(e.id)) this.counters.duplicatesDropped++
      else {
        q.seen.add(e.id)
        q.events.push(e)
      }
      return
    }
    const s = this.subs.get(subId)
    if (s) {
      if (s.seen.add(e.id)) s.handlers.onEvent(e)
      else this.counters.duplicatesDropped++
    }
  }

  private onEose(subId: unknown) {
    if (typeof subId !== "string") return this.protocolError("an EOSE without a subscription id")
    const q = this.queries.get(subId)
    if (q) {
      this.write(JSON.stringify(["CLOSE", subId]))
      return this.settle(this.queries, subId, q, { ok: q.events })
    }
    this.subs.get(subId)?.handlers.onEose?.()
  }

  private onClosed(subId: unknown, message: unknown) {
    if (typeof subId !== "string") return this.protocolError("a CLOSED without a subscription id")
    const why = typeof message === "string" ? message : ""
    const q = this.queries.get(subId)
    const s = this.subs.get(subId)
    const entry = q ?? s
    if (entry && why.startsWith("auth-required:") && this.canAuth && !entry.authRetried) {
      entry.authRetried = true
      return this.afterAuth(() => {
        if (this.queries.get(subId) === q && q) this.write(q.frame)
        else if (s && this.subs.get(subId) === s) this.write(JSON.stringify(["REQ", subId, ...s.filters()]))
      })
    }
    if (q) return this.settle(this.queries, subId, q, new RelayClientError({ url: this.url, reason: "refused", message: `${this.url} refused the query: ${why}` }))
    if (s) {
      this.subs.delete(subId)
      s.handlers.onClosed?.(why)
    }
  }

  private onOk(id: unknown, accepted: unknown, message: unknown) {
    if (typeof id !== "string" || typeof accepted !== "boolean") return this.protocolError("an OK without an event id or a boolean")
    const why = typeof message === "string" ? message : ""
    if (id === this.authEventId) {
      this.authEventId = undefined
      this.authenticated = accepted
      if (!accepted) this.lastError = `${this.url} refused our AUTH: ${why}`
      const waiters = this.authWaiters
      this.authWaiters = []
      for (const w of waiters) w()
      return
    }
    const p = this.publishes.get(id)
    if (!p) return
    if (!accepted && why.startsWith("auth-required:") && this.canAuth && !p.authRetried) {
      p.authRetried = true
      return this.afterAuth(() => this.publishes.get(id) === p && this.write(p.frame))
    }
    if (accepted) this.counters.accepted++
    else this.counters.refused++
    this.settle(this.publishes, id, p, { ok: { id, accepted, message: why } })
  }

  private onNotice(message: unknown) {
    this.counters.notices++
    this.lastNotice = typeof message === "string" ? message : JSON.stringify(message)
    // A relay without NIP-77 answers NEG-OPEN with a NOTICE (or not at all).
    for (const [id, w] of this.negs) {
      this.settle(this.negs, id, w, new RelayClientError({ url: this.url, reason: "unsupported", message: `${this.url} answered a negentropy message with NOTICE: ${this.lastNotice}` }))
    }
  }

  private onNegMsg(subId: unknown, hex: unknown) {
    if (typeof subId !== "string" || typeof hex !== "string" || !/^[0-9a-f]*$/i.test(hex) || hex.length % 2 !== 0) {
      return this.protocolError("a NEG-MSG without a subscription id or hex")
    }
    const w = this.negs.get(subId)
    if (w) this.settle(this.negs, subId, w, { ok: hexToBytes(hex) })
  }

  private onNegErr(subId: unknown, reason: unknown) {
    if (typeof subId !== "string") return this.protocolError("a NEG-ERR without a subscription id")
    const w = this.negs.get(subId)
    const why = typeof reason === "string" ? reason : ""
    if (w) this.settle(this.negs, subId, w, new RelayClientError({ url: this.url, reason: "refused", message: `${this.url} refused negentropy: ${why}` }))
  }

  // ------------------------------------------------------------ AUTH

  private get canAuth() {
    return this.opts.authKey !== undefined || this.opts.authSigner !== undefined
  }

  private sendAuth() {
    if (!this.canAuth || this.challenge === undefined) return
    const template = { kind: 22242, created_at: Math.floor(Date.now() / 1000), tags: [["relay", this.url], ["challenge", this.challenge]], content: "" }
    const event = this.opts.authSigner ? this.opts.authSigner(template) : signEvent(this.opts.authKey!, template)
    this.authEventId = event.id
    this.write(JSON.stringify(["AUTH", event]))
  }

  /** Runs `f` once our AUTH is answered (at once when already authenticated; after the challenge when none came yet). */
  private afterAuth(f: () => void) {
    if (this.authenticated) return f()
    this.authWaiters.push(f)
    if (this.authEventId === undefined) this.sendAuth()
  }

  // ------------------------------------------------------------ operations (callbacks)

  private rejectNow<A>(w: Waiter<A>): boolean {
    if (this.state === "closed") {
      w.reject(new RelayClientError({ url: this.url, reason: "closed", message: this.lastError ?? `client for ${this.url} closed` }))
      return true
    }
    if (this.state !== "open" && !this.opts.reconnect && this.everOpened) {
      w.reject(new RelayClientError({ url: this.url, reason: "disconnected", message: this.lastError ?? `not connected to ${this.url}` }))
      return true
    }
    return false
  }

  private readyCb(w: Waiter<void>) {
    if (this.state === "open") return w.resolve()
    if (this.rejectNow(w)) return
    this.readyWaiters.push(w)
  }

  private publishCb(event: NostrEvent, w: Waiter<PublishResult>) {
    if (this.rejectNow(w)) return
    if (this.publishes.size >= this.opts.maxQueued && !this.publishes.has(event.id)) {
      return w.reject(new RelayClientError({ url: this.url, reason: "queue-full", message: `${this.opts.maxQueued} events already wait for ${this.url}` }))
    }
    const p: PendingPublish = { ...w, frame: JSON.stringify(["EVENT", event]), authRetried: false }
    const previous = this.publishes.get(event.id)
    if (previous) this.settle(this.publishes, event.id, previous, new RelayClientError({ url: this.url, reason: "closed", message: "published again" }))
    this.publishes.set(event.id, p)
    this.counters.published++
    this.arm(this.publishes, event.id, p, `EVENT ${event.id}`)
    this.write(p.frame)
  }

  private queryCb(filters: ReadonlyArray<Filter>, w: Waiter<ReadonlyArray<NostrEvent>>) {
    if (this.rejectNow(w)) return
    const id = newSubId("q")
    const q: PendingQuery = { ...w, frame: JSON.stringify(["REQ", id, ...filters]), events: [], seen: new Set(), authRetried: false }
    this.queries.set(id, q)
    this.arm(this.queries, id, q, "a REQ")
    this.write(q.frame)
  }

  private negCb(frame: (subId: string) => string, subId: string, w: Waiter<Uint8Array>, timeoutMs?: number) {
    if (this.rejectNow(w)) return
    if (this.state !== "open") {
      return w.reject(new RelayClientError({ url: this.url, reason: "disconnected", message: this.lastError ?? `not connected to ${this.url}` }))
    }
    this.negs.set(subId, w)
    this.arm(this.negs, subId, w, "a negentropy message", timeoutMs)
    this.write(frame(subId))
  }

  // ------------------------------------------------------------ public API

  /** Succeeds once connected (at once if connected now). */
  readonly ready: Effect.Effect<void, RelayClientError> = Effect.callback<void, RelayClientError>((resume) => {
    this.readyCb({ resolve: () => resume(Effect.void), reject: (e) => resume(Effect.fail(e)) })
  })

  /** Publishes an event; succeeds with the relay's OK (accepted or not). */
  publish(event: NostrEvent): Effect.Effect<PublishResult, RelayClientError> {
    return Effect.callback((resume) => {
      this.publishCb(event, { resolve: (r) => resume(Effect.succeed(r)), reject: (e) => resume(Effect.fail(e)) })
    })
  }

  /** The stored events matching `filters` (REQ until EOSE), each once. */
  query(filters: ReadonlyArray<Filter>): Effect.Effect<ReadonlyArray<NostrEvent>, RelayClientError> {
    return Effect.callback((resume) => {
      this.queryCb(filters, { resolve: (r) => resume(Effect.succeed(r)), reject: (e) => resume(Effect.fail(e)) })
    })
  }

  /**
   * The events with these ids, asked `perReq` at a time (`concurrency` REQs at once): `onChunk`
   * gets each answer (only the ids asked for, each once) with how many of its ids were not returned.
   */
  fetchByIds<E, R>(
    ids: ReadonlyArray<string>,
    onChunk: (events: ReadonlyArray<NostrEvent>, notReturned: number) => Effect.Effect<void, E, R>,
    options: { readonly perReq?: number; readonly concurrency?: number } = {}
  ): Effect.Effect<void, RelayClientError | E, R> {
    const perReq = options.perReq ?? 250
    const slices = Array.from({ length: Math.ceil(ids.length / perReq) }, (_, i) => ids.slice(i * perReq, (i + 1) * perReq))
    return Effect.forEach(
      slices,
      (slice) =>
        Effect.flatMap(this.query([{ ids: slice, limit: slice.length }]), (events) => {
          const wanted = new Set(slice)
          const got = events.filter((e) => wanted.delete(e.id))
          return onChunk(got, wanted.size)
        }),
      { concurrency: options.concurrency ?? 1, discard: true }
    )
  }

  /** NEG-OPEN; succeeds with the relay's first NEG-MSG. `timeoutMs` for a relay that may ignore it. */
  negOpen(subId: string, filter: Filter, message: Uint8Array, timeoutMs?: number): Effect.Effect<Uint8Array, RelayClientError> {
    return Effect.callback((resume) => {
      this.negCb(
        (id) => JSON.stringify(["NEG-OPEN", id, filter, bytesToHex(message)]),
        subId,
        { resolve: (r) => resume(Effect.succeed(r)), reject: (e) => resume(Effect.fail(e)) },
        timeoutMs
      )
    })
  }

  negMsg(subId: string, message: Uint8Array): Effect.Effect<Uint8Array, RelayClientError> {
    return Effect.callback((resume) => {
      this.negCb((id) => JSON.stringify(["NEG-MSG", id, bytesToHex(message)]), subId, { resolve: (r) => resume(Effect.succeed(r)), reject: (e) => resume(Effect.fail(e)) })
    })
  }

  negClose(subId: string): void {
    this.write(JSON.stringify(["NEG-CLOSE", subId]))
  }

  /**
   * A live subscription, asked again after every reconnect with the filters
   * `filters()` gives then (so a caller can move `since` forward). Each event
   * is delivered once (the last 50,000 ids are remembered).
   */
  subscribe(filters: () => ReadonlyArray<Filter>, handlers: SubscriptionHandlers): Subscription {
    const id = newSubId("s")
    this.subs.set(id, { filters, handlers, seen: new BoundedSet(50_000), authRetried: false })
    if (this.state === "open") this.write(JSON.stringify(["REQ", id, ...filters()]))
    return {
      id,
      close: () => {
        if (this.subs.delete(id)) this.write(JSON.stringify(["CLOSE", id]))
      }
    }
  }

  get connectionState(): ConnectionState {
    return this.state
  }

  stats(): RelayStats {
    return {
      url: this.url,
      state: this.state,
      ...this.counters,
      queued: this.publishes.size,
      authenticated: this.authenticated,
      lastError: this.lastError,
      lastNotice: this.lastNotice
    }
  }
}
