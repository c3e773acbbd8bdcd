/**
 * Streams (`streams`, NIP-86 addstream & co.): a RelayClient per remote that
 * carries events one way or both.
 *
 * - down: a live subscription to the remote (new events only), each event
 *   through Ingest like a client's EVENT (source `Stream`, or `Sync` in a
 *   catch-up), as mirroring does;
 * - up: every event this relay accepts (any process of it: Fanout's
 *   onAccepted sees local and ClusterBus events; stored or ephemeral) that
 *   matches the filter is sent to the remote as it is accepted;
 * - both: the two, with loops prevented: an event that came from the remote
 *   is never sent back to it, and an event we sent it that it sends back
 *   (its live subscription) is dropped, counted as an echo; nothing is sent
 *   twice (the ids sent are remembered, a catch-up sends only what NIP-77
 *   says the remote lacks).
 *
 * Positions: per direction, the newest event (created_at) seen from or sent
 * to the remote, and after a catch-up the time it started; kept in the
 * StreamStore (written once a second while they move, and when the stream
 * stops). After every connect (so after a disconnect, a restart, a week-long
 * outage) a catch-up runs from the oldest position of the stream's directions
 * (minus a margin for late events): NIP-77 against our records of that window
 * gives both what we lack (fetched, stored) and what the remote lacks (sent);
 * REQ pages when the remote has no NIP-77. A stream without a position looks
 * back `streamCatchupSeconds`.
 *
 * The remote's refusals (of our events, the subscription, NIP-77) are counted
 * by their NIP-01 prefix and not retried, except `rate-limited:` (a few times,
 * with backoff) and `auth-required:` (RelayClient authenticates once, with the
 * stream's key or the relay's own identity, and sends again).
 *
 * Supervision: each stream is a fiber of its own; a fault ends that stream
 * only, which is restarted with capped backoff. Which streams run: those of
 * the configuration and those added at run time (StreamStore), minus the
 * paused ones, re-read every second, so a NIP-86 change on any worker takes
 * effect without a restart. With several workers each stream runs on exactly
 * one: the slot `hash(url) mod workers`, which every worker computes alike;
 * between hosts on one database (the same slot on each) a lease in the
 * StreamStore, renewed every second, decides, and is given up on stop.
 */
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { hexToBytes } from "@noble/hashes/utils.js"
import { Clock, Effect, Fiber, Layer, Metric, Queue, Semaphore } from "effect"
import { RelayIdentity } from "../auth/RelayIdentity.ts"
import { workerSlot } from "../cluster/workers.ts"
import { RelayConfig, workerCount } from "../config/RelayConfig.ts"
import { parseStreams, streamFilter, type StreamSpec } from "../config/streams.ts"
import { Ingest } from "../ingest/Ingest.ts"
import { Negentropy, Storage } from "../negentropy/engine.ts"
import { matchesFilter, type Filter, type NostrEvent } from "../nostr/index.ts"
import * as M from "../observability/metrics.ts"
import { streamSource, syncSource } from "../policy/source.ts"
import type { RequestContext } from "../policy/types.ts"
import { EventStore, FreshReads } from "../storage/EventStore.ts"
import { desiredStreams, StreamStore, type StreamPosition } from "../storage/StreamStore.ts"
import { Fanout } from "../subscriptions/Fanout.ts"
import { RelayClient, type ConnectionState } from "./RelayClient.ts"
import { BoundedSet } from "../lib/BoundedSet.ts"

/** Events from before a disconnect may reach the remote late: a catch-up starts this much before the position. */
export const CATCHUP_MARGIN_SECONDS = 60
const QUEUE_CAPACITY = 10_000
/** Ids remembered per stream (received from the remote; sent to it). */
const REMEMBERED_IDS = 200_000
const RATE_LIMIT_RETRIES = 5
/** Events sent up whose OK has not come yet (a far remote's round trip does not cap the rate at one event per trip). */
const UP_IN_FLIGHT = 64
const RELOAD_MS = 1000
/** How long a process's claim on a stream lasts without renewal (renewed every RELOAD_MS). */
const LEASE_SECONDS = 10
const FLUSH_MS = 1000

const nowSeconds = () => Math.floor(Date.now() / 1000)
const liveSleep = (ms: number) => Effect.provideService(Effect.sleep(ms), Clock.Clock, Clock.Clock.defaultValue())

/** FNV-1a of the URL: which worker slot runs a stream, the same in every worker. */
export const streamSlot = (url: string, workers: number): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 0x01000193) >>> 0
  return workers <= 1 ? 0 : h % workers
}

/** The NIP-01 prefix of a refusal (low cardinality for metrics). */
const reasonOf = (message: string): string => {
  const m = /^([a-z-]+):/.exec(message)
  return m === null ? "other" : m[1]!
}

type Item = { readonly down: NostrEvent } | { readonly up: NostrEvent } | "catchup"

const specKey = (s: StreamSpec) => JSON.stringify([s.direction, s.filter, s.authKey])

export const streamsLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    const parsed = parseStreams(config.streams)
    if ("error" in parsed) {
      yield* Effect.logError(`setting "streams" ${parsed.error}: no configured streams run`)
    }
    const configured = "error" in parsed ? [] : parsed
    const streamStore = yield* StreamStore
    const ingest = yield* Ingest
    const store = yield* EventStore
    const fanout = yield* Fanout
    const identity = yield* (yield* RelayIdentity).get.pipe(Effect.orDie)
    const services = yield* Effect.context<never>()
    const run = (effect: Effect.Effect<void>) => void Effect.runForkWith(services)(effect)
    const workers = workerCount(config)
    const slot = workerSlot()
    /** This process, as the owner of stream leases. */
    const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`

    const runStream = (spec: StreamSpec, index: number) =>
      Effect.gen(function* () {
        const url = spec.url
        const filter: Filter = streamFilter(spec)
        const wantDown = spec.direction !== "up"
        const wantUp = spec.direction !== "down"
        const row = (yield* streamStore.load).find((r) => r.url === url)
        // In memory the newest; `dirty` ones are written by the flusher.
        const pos: { down: StreamPosition | undefined; up: StreamPosition | undefined } = { down: row?.down, up: row?.up }
        const dirty = { down: false, up: false }
        const rewound = { down: false, up: false }
        const advance = (direction: "down" | "up", p: StreamPosition) => {
          const old = pos[direction]
          if (old === undefined || old.createdAt < p.createdAt) {
            pos[direction] = p
            dirty[direction] = true
          }
        }
        /**
         * An event that could not be carried (queue full, not connected, the send failed) and is older than
         * the position: the position goes back to it, so the next catch-up (after a restart too) covers it.
         */
        const rewindTo = (direction: "down" | "up", createdAt: number) => {
          const at = Math.min(createdAt, nowSeconds())
          const p = pos[direction]
          if (p !== undefined && p.createdAt > at) {
            pos[direction] = { createdAt: at, id: "" }
            rewound[direction] = true
          }
        }
        /** Writes the positions that moved: the store then holds exactly the position in memory. */
        const flush = Effect.gen(function* () {
          for (const d of ["down", "up"] as const) {
            const p = pos[d]
            if ((!dirty[d] && !rewound[d]) || p === undefined) continue
            const back = rewound[d]
            dirty[d] = rewound[d] = false
            yield* (back ? Effect.andThen(streamStore.rewind(url, d, p), streamStore.advance(url, d, p)) : streamStore.advance(url, d, p)).pipe(
              Effect.catch((e) =>
                Effect.sync(() => {
                  dirty[d] = true
                  rewound[d] ||= back
                }).pipe(Effect.andThen(Effect.logWarning(`stream ${url}: cannot store its position: ${e.message}`)))
              )
            )
          }
        })
        const fromRemote = new BoundedSet(REMEMBERED_IDS)
        const sentUp = new BoundedSet(REMEMBERED_IDS)
        /** Events the remote refused: not offered again by a catch-up (until a restart forgets them). */
        const refusedUp = new BoundedSet(REMEMBERED_IDS)
        const queue = yield* Queue.dropping<Item>(QUEUE_CAPACITY)
        let catchupDue = false
        // Until a catch-up succeeds (at start, after a drop, an overflow or a failed send) the positions
        // stay where they are, so the next catch-up covers the gap even after a restart.
        let pending = true
        const due = () => {
          catchupDue = true
          pending = true
          Queue.offerUnsafe(queue, "catchup")
        }
        const base = { connectionId: -1_000_000 - index, ip: "127.0.0.1", authenticated: new Set([identity.pubkey]) }
        const contexts: Record<"live" | "catchup", RequestContext> = {
          live: { ...base, source: streamSource(url) },
          catchup: { ...base, source: syncSource(url) }
        }
        const refused = (message: string) => run(Metric.update(M.streamRefusals(url, reasonOf(message)), 1))

        const onState = (state: ConnectionState, error?: string) => {
          run(Metric.update(M.streamConnected(url), state === "open" ? 1 : 0))
          if (state === "open") {
            due()
            run(Effect.logInfo(`stream ${url} (${spec.direction}): connected`))
          } else if (state === "backoff") {
            pending = true
            run(Effect.logWarning(`stream ${url}: ${error ?? "disconnected"}; retrying with backoff`))
            if (error !== undefined && /refused our AUTH/.test(error)) refused("auth-refused:")
          }
        }
        const client = new RelayClient(url, {
          reconnect: true,
          onState,
          ...(spec.authKey !== "" ? { authKey: hexToBytes(spec.authKey) } : { authSigner: identity.sign })
        })
        yield* Effect.addFinalizer(() => Effect.andThen(flush, Effect.sync(() => client.close())))
        yield* Effect.addFinalizer(() => Metric.update(M.streamConnected(url), 0))

        if (wantDown) {
          // limit 0: new events only; what was published meanwhile is the catch-up's.
          client.subscribe(() => [{ ...filter, limit: 0 }], {
            onEvent: (e) => {
              if (sentUp.has(e.id)) return run(Metric.update(M.streamEchoes(url), 1))
              if (!Queue.offerUnsafe(queue, { down: e })) {
                rewindTo("down", e.created_at)
                due()
              }
            },
            onClosed: (why) => {
              refused(why)
              run(Effect.logWarning(`stream ${url}: the remote closed the subscription: ${why}`))
            }
          })
        }
        if (wantUp) {
          const off = fanout.onAccepted((e) => {
            if (fromRemote.has(e.id) || sentUp.has(e.id) || !matchesFilter(filter, e)) return
            if (!Queue.offerUnsafe(queue, { up: e })) {
              rewindTo("up", e.created_at)
              due()
            }
          })
          yield* Effect.addFinalizer(() => Effect.sync(off))
        }

        const storeDown = (e: NostrEvent, source: "live" | "catchup") =>
          Effect.gen(function* () {
            fromRemote.add(e.id)
            const answer = yield* ingest.handle(e, contexts[source])
            yield* Metric.update(M.streamEvents(url, "down", source, answer.result), 1)
            if (typeof e.created_at === "number" && answer.accepted) {
              const at = Math.min(e.created_at, nowSeconds())
              if (source === "live" && !pending) {
                advance("down", { createdAt: at, id: e.id })
                yield* Metric.update(M.streamLagSeconds(url, "down"), Math.max(0, nowSeconds() - e.created_at))
              }
            }
          })

        /** Sends one event up; false when the connection failed (the catch-up will decide again). */
        const sendUp = (e: NostrEvent, source: "live" | "catchup"): Effect.Effect<boolean> =>
          Effect.gen(function* () {
            sentUp.add(e.id)
            for (let attempt = 0; ; attempt++) {
              const tried = yield* Effect.result(client.publish(e))
              if (tried._tag === "Failure") return false
              const ok = tried.success
              if (!ok.accepted && ok.message.startsWith("rate-limited:") && attempt < RATE_LIMIT_RETRIES) {
                yield* liveSleep(250 * 2 ** attempt)
                continue
              }
              const result = ok.accepted ? (ok.message.startsWith("duplicate:") ? "duplicate" : "accepted") : reasonOf(ok.message)
              yield* Metric.update(M.streamEvents(url, "up", source, result), 1)
              if (!ok.accepted) {
                refusedUp.add(e.id)
                refused(ok.message)
              }
              else if (source === "live" && !pending) {
                advance("up", { createdAt: Math.min(e.created_at, nowSeconds()), id: e.id })
                yield* Metric.update(M.streamLagSeconds(url, "up"), Math.max(0, nowSeconds() - e.created_at))
              }
              return true
            }
          })

        const sendIds = (ids: ReadonlyArray<string>) =>
          Effect.gen(function* () {
            let sent = 0
            for (let i = 0; i < ids.length; i += 500) {
              const events = yield* store.query([{ ids: ids.slice(i, i + 500) }]).pipe(Effect.provideService(FreshReads, true), Effect.orDie)
              const due = events.filter((e) => !fromRemote.has(e.id) && !refusedUp.has(e.id))
              const results = yield* Effect.forEach(due, (e) => sendUp(e, "catchup"), { concurrency: UP_IN_FLIGHT })
              if (results.some((ok) => !ok)) return yield* Effect.fail(`the connection to ${url} failed while sending`)
              sent += results.length
            }
            return sent
          })

        // NIP-77: our records of the window against the remote's: what we lack (down) and what it lacks (up).
        const viaNegentropy = (window: Filter) =>
          Effect.gen(function* () {
            const local = yield* store.negentropyRecords([window], config.negentropyMaxRecords + 1).pipe(Effect.provideService(FreshReads, true), Effect.orDie)
            if (local.length > config.negentropyMaxRecords) return yield* Effect.fail({ noNegentropy: "too many local records" })
            const engine = new Negentropy(Storage.fromRecords(local), 60_000)
            const subId = `stream-${index}-${Date.now().toString(36)}`
            const need: Array<string> = []
            const have: Array<string> = []
            let msg: Uint8Array | undefined = engine.initiate()
            let first = true
            while (msg !== undefined) {
              const answer: Uint8Array = yield* (first ? client.negOpen(subId, window, msg, 10_000) : client.negMsg(subId, msg)).pipe(
                // A lost connection is not a remote without NIP-77: the catch-up is asked again after the reconnect.
                Effect.mapError((e) => (e.reason === "disconnected" || e.reason === "closed" || e.reason === "unreachable" ? e.message : { noNegentropy: e.message }))
              )
              first = false
              const r = engine.reconcile(answer)
              need.push(...r.need)
              have.push(...r.have)
              msg = r.next
            }
            client.negClose(subId)
            let fetched = 0
            if (wantDown && need.length > 0) {
              yield* client
                .fetchByIds(need, (events) => Effect.forEach(events, (e) => Effect.andThen(Effect.sync(() => fetched++), storeDown(e, "catchup")), { discard: true }))
                .pipe(Effect.mapError((e) => e.message))
            }
            const sent = wantUp ? yield* sendIds(have) : 0
            return { fetched, sent }
          })

        // Without NIP-77: the remote's events of the window page by page; ours it did not list are sent.
        const viaReq = (window: Filter) =>
          Effect.gen(function* () {
            const remote = new Set<string>()
            let until: number | undefined
            let fetched = 0
            for (let page = 0; page < 100_000; page++) {
              const events = yield* client.query([{ ...window, ...(until === undefined ? {} : { until }), limit: 500 }]).pipe(Effect.mapError((e) => e.message))
              const fresh = events.filter((e) => !remote.has(e.id))
              if (fresh.length === 0) break
              for (const e of fresh) {
                remote.add(e.id)
                if (wantDown) {
                  fetched++
                  yield* storeDown(e, "catchup")
                }
              }
              until = Math.min(...events.map((e) => e.created_at))
            }
            let sent = 0
            if (wantUp) {
              const missing: Array<string> = []
              let cursor: number | undefined
              const seen = new Set<string>()
              for (let page = 0; page < 100_000; page++) {
                const events = yield* store.query([{ ...window, ...(cursor === undefined ? {} : { until: cursor }), limit: 500 }]).pipe(Effect.provideService(FreshReads, true), Effect.orDie)
                const fresh = events.filter((e) => !seen.has(e.id))
                if (fresh.length === 0) break
                for (const e of fresh) {
                  seen.add(e.id)
                  if (!remote.has(e.id)) missing.push(e.id)
                }
                cursor = Math.min(...events.map((e) => e.created_at))
              }
              sent = yield* sendIds(missing)
            }
            return { fetched, sent }
          })

        const catchup = Effect.gen(function* () {
          const started = nowSeconds()
          const fallback = started - config.streamCatchupSeconds
          const froms: Array<number> = []
          if (wantDown) froms.push(pos.down?.createdAt ?? fallback)
          if (wantUp) froms.push(pos.up?.createdAt ?? fallback)
          const since = Math.max(0, Math.min(...froms) - CATCHUP_MARGIN_SECONDS)
          const window = { ...filter, since }
          const tried = yield* Effect.result(viaNegentropy(window))
          let method = "negentropy"
          let outcome: { fetched: number; sent: number }
          if (tried._tag === "Success") outcome = tried.success
          else if (typeof tried.failure === "object") {
            method = "req"
            outcome = yield* viaReq(window)
          } else return yield* Effect.fail(tried.failure)
          yield* Metric.update(M.streamCatchups(url, method), 1)
          // Both sides hold the same up to when the catch-up started: the next one starts there.
          if (wantDown) advance("down", { createdAt: started, id: "" })
          if (wantUp) advance("up", { createdAt: started, id: "" })
          pending = false
          yield* flush
          yield* Effect.logInfo(`stream ${url}: caught up since ${since} by ${method} (${outcome.fetched} fetched, ${outcome.sent} sent)`)
        }).pipe(
          Effect.catch((why: string) =>
            Effect.gen(function* () {
              catchupDue = true // asked again after the next connect
              yield* Effect.logWarning(`stream ${url}: catch-up failed: ${why}`)
            })
          )
        )

        // Live sends run side by side (up to UP_IN_FLIGHT); a catch-up waits until none is in flight.
        const sends = yield* Semaphore.make(UP_IN_FLIGHT)
        const noneInFlight = sends.withPermits(UP_IN_FLIGHT)(Effect.void)
        const sendLive = (e: NostrEvent) =>
          Effect.gen(function* () {
            if (yield* sendUp(e, "live")) return
            rewindTo("up", e.created_at)
            due()
          }).pipe(Effect.ensuring(sends.release(1)))

        yield* Effect.forkScoped(Effect.forever(Effect.andThen(liveSleep(FLUSH_MS), flush)))
        return yield* Effect.forever(
          Effect.gen(function* () {
            const item = yield* Queue.take(queue)
            if (item !== "catchup") {
              if ("down" in item) yield* storeDown(item.down, "live")
              else if (sentUp.has(item.up.id) || refusedUp.has(item.up.id) || fromRemote.has(item.up.id)) {
                // A catch-up sent it, the remote refused it, or the remote sent it to us too (a remote that
                // also streams to us) while it waited here: not sent (again).
              } else if (client.connectionState !== "open") {
                rewindTo("up", item.up.created_at)
                catchupDue = pending = true
              } else {
                yield* sends.take(1)
                yield* Effect.forkScoped(sendLive(item.up))
              }
            }
            if (catchupDue && client.connectionState === "open") {
              catchupDue = false
              yield* noneInFlight
              yield* catchup
            }
          })
        )
      })

    /** A stream under supervision: a failure ends it, logged and counted, and it starts again with capped backoff. */
    const supervised = (spec: StreamSpec, index: number) =>
      Effect.gen(function* () {
        for (let failures = 0; ; failures++) {
          const exit = yield* Effect.exit(Effect.scoped(runStream(spec, index)))
          yield* Metric.update(M.streamRestarts(spec.url), 1)
          yield* Effect.logError(`stream ${spec.url} failed; restarting: ${exit._tag === "Failure" ? String(exit.cause) : "ended"}`)
          yield* liveSleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)))
        }
      })

    const running = new Map<string, { readonly key: string; readonly fiber: Fiber.Fiber<unknown, unknown> }>()
    let started = 0
    const reconcile = Effect.gen(function* () {
      const rows = yield* streamStore.load
      const mine = desiredStreams(configured, rows).filter((v) => !v.paused && streamSlot(v.url, workers) === slot)
      // The lease decides between processes that compute the same slot (hosts on one database).
      const now = nowSeconds()
      const wanted = new Map<string, StreamSpec>()
      for (const v of mine) if (yield* streamStore.claim(v.url, owner, now, now + LEASE_SECONDS)) wanted.set(v.url, v.spec)
      for (const [url, r] of running) {
        const spec = wanted.get(url)
        if (spec !== undefined && specKey(spec) === r.key) continue
        running.delete(url)
        yield* Fiber.interrupt(r.fiber)
        // Paused, removed, or elsewhere now: the lease is given up unless another process holds it already.
        if (!mine.some((v) => v.url === url)) yield* Effect.ignore(streamStore.release(url, owner))
        yield* Effect.logInfo(`stream ${url}: stopped`)
      }
      for (const [url, spec] of wanted) {
        if (running.has(url)) continue
        const fiber = yield* Effect.forkScoped(supervised(spec, started++))
        running.set(url, { key: specKey(spec), fiber })
        yield* Effect.logInfo(`stream ${url} (${spec.direction}): started`)
      }
    }).pipe(Effect.catch((e) => Effect.logWarning(`streams: cannot read the stored streams: ${e.message}`)))

    // On shutdown the streams stop first (their fibers, forked later, are finalized before this runs), then their leases are given up.
    yield* Effect.addFinalizer(() => Effect.forEach([...running.keys()], (url) => Effect.ignore(streamStore.release(url, owner)), { discard: true }))
    yield* reconcile
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(liveSleep(RELOAD_MS), reconcile)))
  })
)
