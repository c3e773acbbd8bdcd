/**
 * Whether the store can take writes and answer reads right now: the port
 * that `/ready`, the status page, `/metrics` and the store's own fast-fail
 * read, so none of them needs to know which adapter (or which supervisor)
 * decides. The memory store is always ready (the default below); the
 * PostgreSQL adapter feeds a `StoreHealthState` from two sources:
 *
 * - the server: what a supervisor knows of the embedded PostgreSQL's process
 *   (this process's, or the primary's when running as a worker): up, down
 *   (its process ended) or restarting;
 * - a probe: a cheap `SELECT 1` through the pools, or any store call that
 *   just succeeded.
 *
 * While not ready, `gated` stores answer every call at once with a
 * StoreError (EVENT gets `OK false "error: ..."`, REQ `CLOSED "error: ..."`)
 * instead of waiting for a connect timeout, and calls under way when it
 * stops being ready answer then; refusing is always safe, it never
 * acknowledges anything.
 */
import { Cause, Context, Effect, Exit } from "effect"
import { StoreError, type EventStoreShape } from "./EventStore.ts"

export type ServerState = "up" | "down" | "restarting"

export interface StoreStatus {
  readonly ready: boolean
  /** What a supervisor knows of the database server's process ("up" when nobody supervises it here). */
  readonly server: ServerState
  /** Why the store is not ready ("" when it is). */
  readonly reason: string
  /** When `ready` last changed (ms since the epoch). */
  readonly since: number
  /** Restarts of the embedded PostgreSQL since this process started (by this process or its primary). */
  readonly restarts: number
}

export interface StoreHealthShape {
  readonly status: () => StoreStatus
}

const alwaysReady: StoreHealthShape = {
  status: () => ({ ready: true, server: "up", reason: "", since: 0, restarts: 0 })
}

/** Defaults to always ready: stores without a notion of outage (memory) need not provide it. */
export const StoreHealth = Context.Reference<StoreHealthShape>("parrhesia/storage/StoreHealth", { defaultValue: () => alwaysReady })

/** What a supervisor of the server reports (also sent from the primary to its workers). */
export interface ServerReport {
  readonly state: ServerState
  readonly reason: string
  readonly restarts: number
}

/** How long writes must have stopped failing before a successful one makes the store ready again. */
const WRITES_SETTLE_MS = 2000

/**
 * The mutable state behind a StoreHealth: fed by a supervisor, a probe and the outcome of writes.
 *
 * Two levels: *available* (the server is up and answers through the pools) gates every call; *ready*
 * also needs writes to work. A database that answers but cannot write (a full disk: "could not
 * extend file") is available, so reads go on and each EVENT gets the database's own error at once,
 * but not ready; a write that succeeds again (a client's, or the probe's rolled-back one) clears it.
 */
export class StoreHealthState implements StoreHealthShape {
  private server: ServerReport = { state: "up", reason: "", restarts: 0 }
  private probeFailure: string | undefined
  private writeFailureNow: string | undefined
  private lastSuccess = 0
  private availableNow = true
  private readyNow = true
  private sinceMs = Date.now()
  private readonly listeners = new Set<(s: StoreStatus) => void>()
  /** Set by the probe loop: asks it to probe now (the server came back, a call met a dead connection). */
  wake: () => void = () => {}

  status = (): StoreStatus => ({
    ready: this.readyNow,
    server: this.server.state,
    reason: this.reason(),
    since: this.sinceMs,
    restarts: this.server.restarts
  })

  private reason(): string {
    if (this.server.state !== "up") return this.server.reason
    if (this.probeFailure !== undefined) return this.probeFailure
    return this.writeFailureNow !== undefined ? `writes fail: ${this.writeFailureNow}` : ""
  }

  private changed() {
    const available = this.server.state === "up" && this.probeFailure === undefined
    if (available !== this.availableNow) {
      this.availableNow = available
      if (!available) {
        const lost = this.unavailable()
        const waiting = [...this.waiters]
        this.waiters.clear()
        for (const w of waiting) w(lost)
      }
    }
    const ready = available && this.writeFailureNow === undefined
    if (ready !== this.readyNow) {
      this.readyNow = ready
      this.sinceMs = Date.now()
    }
    const s = this.status()
    for (const l of this.listeners) l(s)
  }

  /** Calls `listener` after every report (ready or not, restarts, reason). */
  onChange(listener: (s: StoreStatus) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  reportServer(report: ServerReport) {
    const back = this.server.state !== "up" && report.state === "up"
    this.server = report
    this.changed()
    if (back) this.wake()
  }

  /** A store call just succeeded: the database answers. */
  succeeded() {
    this.lastSuccess = performance.now()
    if (this.probeFailure !== undefined && this.server.state === "up") {
      this.probeFailure = undefined
      this.changed()
    }
  }

  /** What the last failed write said, while writes fail (the probe then tries a rolled-back write). */
  writeFailure(): string | undefined {
    return this.writeFailureNow
  }

  /** A write failed (not for its event's own sake: an unstorable event is the client's problem). */
  writeFailed(message: string) {
    this.lastWriteFailure = performance.now()
    if (message === this.writeFailureNow) return
    this.writeFailureNow = message
    this.changed()
  }

  /**
   * A write succeeded. It clears a write failure only once no write has failed for
   * WRITES_SETTLE_MS: on a nearly full disk some writes still fit, and readiness should not flap.
   */
  wrote() {
    if (this.writeFailureNow === undefined || performance.now() - this.lastWriteFailure < WRITES_SETTLE_MS) return
    this.writeFailureNow = undefined
    this.changed()
  }

  private lastWriteFailure = 0

  /** The outcome of a probe started at `startedAt` (performance.now()); a failure is ignored when a call succeeded meanwhile. */
  probed(failure: string | undefined, startedAt: number) {
    if (failure !== undefined && this.lastSuccess >= startedAt) return
    if (failure === this.probeFailure) return
    this.probeFailure = failure
    this.changed()
  }

  private unavailable() {
    return new StoreError({ message: `the database is unavailable (${this.reason() || "not ready"})` })
  }

  /** The calls under way, each told at once when the store stops being available. */
  private readonly waiters = new Set<(lost: StoreError) => void>()

  /** Succeeds while available, else fails at once naming the reason. */
  readonly gate: Effect.Effect<void, StoreError> = Effect.suspend(() => (this.availableNow ? Effect.void : Effect.fail(this.unavailable())))

  /**
   * `eff`, failing at once when the store stops being available while it runs. A call under way then
   * answers at once instead of waiting for its time limit (a stalled network, a dead server); whatever
   * it was doing may still complete, so this only ever turns an answer into a refusal, never into an ack.
   * `eff` runs in a fiber of its own, watched by a callback in a Set: one fork and an O(1) exit per call
   * (Effect.raceFirst against a shared "lost" signal forked twice and cost ~5 µs of CPU per call; this
   * ~1.5 µs). `observe` sees how the call ended, synchronously (`lost`: refused because the store
   * stopped being available): the gate's bookkeeping without Effect steps (and their allocations).
   */
  raceLost<A>(eff: Effect.Effect<A, StoreError>, observe?: (exit: Exit.Exit<A, StoreError>, lost: boolean) => void): Effect.Effect<A, StoreError> {
    return Effect.withFiber((parent) =>
      !this.availableNow ? Effect.fail(this.unavailable()) : Effect.callback<A, StoreError>((resume) => {
        let done = false
        const fiber = Effect.runForkWith(parent.context)(eff)
        const onLost = (lost: StoreError) => {
          if (done) return
          done = true
          fiber.interruptUnsafe()
          observe?.(Exit.fail(lost), true)
          resume(Effect.fail(lost))
        }
        this.waiters.add(onLost)
        fiber.addObserver((exit) => {
          this.waiters.delete(onLost)
          if (done) return
          done = true
          observe?.(exit, false)
          resume(exit)
        })
        return Effect.sync(() => {
          this.waiters.delete(onLost)
          done = true
          fiber.interruptUnsafe()
        })
      })
    )
  }

  /** How many calls are under way (tests: none may be left behind). */
  pendingCalls(): number {
    return this.waiters.size
  }
}

// Reports about a server this process does not run itself: with `workers`, the primary supervises the
// embedded PostgreSQL and sends each state change to its workers (main.ts hands them to reportFromPrimary).
let fromPrimary: ServerReport | undefined
const followers = new Set<StoreHealthState>()

/** A report of the primary's supervisor; every store of this process follows it. */
export const reportFromPrimary = (report: ServerReport): void => {
  fromPrimary = report
  for (const h of followers) h.reportServer(report)
}

/** Makes `health` follow the primary's reports (the latest one at once); returns the stop. */
export const followPrimary = (health: StoreHealthState): (() => void) => {
  followers.add(health)
  if (fromPrimary !== undefined) health.reportServer(fromPrimary)
  return () => void followers.delete(health)
}

/** Whether a `reason` or `cause` down the chain is tagged `tag` (effect/sql's SqlError reasons: "ConnectionError"). */
const tagged = (e: unknown, tag: string): boolean => {
  let cur: unknown = e
  for (let i = 0; i < 8 && cur !== null && typeof cur === "object"; i++) {
    const o = cur as { _tag?: unknown; reason?: unknown; cause?: unknown }
    if (o._tag === tag) return true
    cur = o.reason ?? o.cause
  }
  return false
}

/**
 * A connection-level failure (refused, reset, lost): worth probing at once rather than at the next
 * tick, and not a sign that writes fail. Words, not substrings: every driver message names
 * "PgConnection", a full disk's too.
 */
const isConnectionLoss = (e: StoreError): boolean =>
  tagged(e.cause, "ConnectionError") || /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|\bconnection\b|\bterminat|\bshut ?down|Failed to connect/i.test(e.message)

/**
 * `store` behind the health gate: while not ready every call fails at once with StoreError; each
 * success tells the state the database answers, and a lost connection asks for a probe now.
 */
export const gated = (store: EventStoreShape, health: StoreHealthState): EventStoreShape => {
  /** A call's exit: a success tells the state the database answers; a lost connection asks for a probe now. */
  const observed = (exit: Exit.Exit<unknown, StoreError>) => {
    if (Exit.isSuccess(exit)) return health.succeeded()
    const e = Cause.findErrorOption(exit.cause)
    if (e._tag === "Some" && e.value.unstorable !== true && isConnectionLoss(e.value)) health.wake()
  }
  /** A put's exit besides: writes work again, or fail (a lost connection is the probe's business: the database is away, not unable to write). */
  const observedPut = (exit: Exit.Exit<unknown, StoreError>, lost: boolean) => {
    if (Exit.isSuccess(exit)) health.wrote()
    else if (!lost) {
      const e = Cause.findErrorOption(exit.cause)
      if (e._tag === "Some" && e.value.unstorable !== true && !isConnectionLoss(e.value)) health.writeFailed(e.value.message)
    }
    observed(exit)
  }
  const guard = <A>(eff: Effect.Effect<A, StoreError>): Effect.Effect<A, StoreError> => health.raceLost(eff, observed)
  return {
    put: (event) => health.raceLost(store.put(event), observedPut),
    query: (filters) => guard(store.query(filters)),
    ...(store.queryServed !== undefined ? { queryServed: (filters: Parameters<NonNullable<EventStoreShape["queryServed"]>>[0]) => guard(store.queryServed!(filters)) } : {}),
    count: (filters) => guard(store.count(filters)),
    ...(store.size !== undefined ? { size: guard(store.size) } : {}),
    countHll: (filters, offset) => guard(store.countHll(filters, offset)),
    deleteByRequest: (request) => guard(store.deleteByRequest(request)),
    vanish: (pubkey, until) => guard(store.vanish(pubkey, until)),
    negentropyRecords: (filters, max) => guard(store.negentropyRecords(filters, max)),
    authorsAtDomain: (domain) => guard(store.authorsAtDomain(domain)),
    scan: (filter, after, max) => guard(store.scan(filter, after, max)),
    storedIds: (ids) => guard(store.storedIds(ids)),
    vanished: guard(store.vanished),
    purgeExpired: (now) => guard(store.purgeExpired(now)),
    purgeByRetention: (policy, now) => guard(store.purgeByRetention(policy, now))
  }
}
