/**
 * Mirroring (`mirrorUpstreams`): for each upstream relay a RelayClient that
 * reconnects with backoff, a live subscription (new events only: `limit`
 * 0), and after every connect a catch-up for the time it was away:
 * NIP-77 with our store's records as the initiator's set (only what we lack
 * is fetched), or REQ pages when the upstream has no NIP-77. Every event goes
 * through Ingest, the same pipeline as a client's EVENT (validation, policy,
 * store, fanout), with its source marked: `Stream` (live) or `Sync` (catch-up),
 * and the upstream's URL.
 *
 * Events wait in a bounded queue per upstream; when it overflows the events
 * dropped are recovered by a catch-up. An upstream that is down costs a timer.
 * State, counts and lag per upstream are in /metrics and the logs.
 */
import { Effect, Layer, Metric, Queue } from "effect"
import { RelayIdentity } from "../auth/RelayIdentity.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { Ingest } from "../ingest/Ingest.ts"
import { Negentropy, Storage } from "../negentropy/engine.ts"
import type { Filter, NostrEvent } from "../nostr/index.ts"
import * as M from "../observability/metrics.ts"
import { streamSource, syncSource } from "../policy/source.ts"
import type { RequestContext } from "../policy/types.ts"
import { EventStore, FreshReads } from "../storage/EventStore.ts"
import { RelayClient, type ConnectionState, type RelayClientError } from "./RelayClient.ts"

/** Events from before a disconnect may arrive late at the upstream: the catch-up starts this much earlier. */
const CATCHUP_MARGIN_SECONDS = 60
const QUEUE_CAPACITY = 10_000

interface Upstream {
  readonly url: string
  readonly client: RelayClient
  readonly queue: Queue.Queue<NostrEvent | "catchup">
  /** Unix seconds the next catch-up starts from, when one is due. */
  catchupFrom: number | undefined
  /** When the connection dropped (unix seconds); undefined while connected. */
  downSince: number | undefined
  everConnected: boolean
}

const nowSeconds = () => Math.floor(Date.now() / 1000)

export const mirrorLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* RelayConfig
    if (config.mirrorUpstreams.length === 0) return
    const ingest = yield* Ingest
    const store = yield* EventStore
    const identity = yield* (yield* RelayIdentity).get.pipe(Effect.orDie)
    const services = yield* Effect.context<never>()
    const log = (effect: Effect.Effect<void>) => void Effect.runForkWith(services)(effect)
    const filter: Filter = config.mirrorFilter === "" ? {} : JSON.parse(config.mirrorFilter)

    const start = (url: string, index: number) =>
      Effect.gen(function* () {
        const queue = yield* Queue.dropping<NostrEvent | "catchup">(QUEUE_CAPACITY)
        const base = { connectionId: -1 - index, ip: "127.0.0.1", authenticated: new Set([identity.pubkey]) }
        // The write policy sees where an event came from: the live subscription streams, a catch-up syncs.
        const contexts: Record<"live" | "catchup", RequestContext> = {
          live: { ...base, source: streamSource(url) },
          catchup: { ...base, source: syncSource(url) }
        }
        const up: Upstream = {
          url,
          queue,
          catchupFrom: undefined,
          downSince: undefined,
          everConnected: false,
          client: undefined as unknown as RelayClient
        }
        const dueFrom = (since: number) => {
          up.catchupFrom = Math.min(up.catchupFrom ?? Number.POSITIVE_INFINITY, Math.max(0, since))
          Queue.offerUnsafe(queue, "catchup")
        }
        const onState = (state: ConnectionState, error?: string) => {
          const now = nowSeconds()
          log(Metric.update(M.mirrorConnected(url), state === "open" ? 1 : 0))
          if (state === "open") {
            dueFrom(up.everConnected ? (up.downSince ?? now) - CATCHUP_MARGIN_SECONDS : now - config.mirrorCatchupSeconds)
            up.everConnected = true
            up.downSince = undefined
            log(Effect.logInfo(`mirror ${url}: connected`))
          } else if (state === "backoff") {
            up.downSince ??= now
            log(Effect.andThen(Metric.update(M.mirrorReconnects(url), 1), Effect.logWarning(`mirror ${url}: ${error ?? "disconnected"}; retrying with backoff`)))
          }
        }
        ;(up as { client: RelayClient }).client = new RelayClient(url, { reconnect: true, onState, authSigner: identity.sign })
        yield* Effect.addFinalizer(() => Effect.sync(() => up.client.close()))
        // limit 0: new events only, whatever their created_at; what was stored meanwhile is the catch-up's.
        up.client.subscribe(() => [{ ...filter, limit: 0 }], {
          onEvent: (e) => {
            if (!Queue.offerUnsafe(queue, e)) dueFrom(nowSeconds() - CATCHUP_MARGIN_SECONDS)
          },
          onClosed: (why) => log(Effect.logWarning(`mirror ${url}: the upstream closed the subscription: ${why}`))
        })

        const store1 = (e: NostrEvent, source: "live" | "catchup") =>
          Effect.gen(function* () {
            const answer = yield* ingest.handle(e, contexts[source])
            yield* Metric.update(M.mirrorEvents(url, source, answer.result), 1)
            if (source === "live" && typeof e.created_at === "number") yield* Metric.update(M.mirrorLagSeconds(url), Math.max(0, nowSeconds() - e.created_at))
          })

        const fetchAndStore = (ids: ReadonlyArray<string>) =>
          up.client.fetchByIds(ids, (events) => Effect.forEach(events, (e) => store1(e, "catchup"), { discard: true }))

        // NIP-77: our records since `since` against the upstream's; fetches what we lack. Fails when the upstream cannot.
        const viaNegentropy = (since: number) =>
          Effect.gen(function* () {
            const window = { ...filter, since }
            // From the primary (FreshReads): what this relay just stored must count, or a replica's lag would fetch it again.
            const local = yield* store
              .negentropyRecords([window], config.negentropyMaxRecords + 1)
              .pipe(Effect.provideService(FreshReads, true), Effect.orDie)
            if (local.length > config.negentropyMaxRecords) return yield* Effect.fail("too many local records" as const)
            const engine = new Negentropy(Storage.fromRecords(local), 60_000)
            const subId = `mirror-${index}-${Date.now().toString(36)}`
            const need: Array<string> = []
            let msg: Uint8Array | undefined = engine.initiate()
            let first = true
            while (msg !== undefined) {
              const answer: Uint8Array = yield* first ? up.client.negOpen(subId, window, msg, 10_000) : up.client.negMsg(subId, msg)
              first = false
              const r = engine.reconcile(answer)
              need.push(...r.need)
              msg = r.next
            }
            up.client.negClose(subId)
            yield* fetchAndStore(need)
            return need.length
          })

        // Without NIP-77: every event since `since`, newest first, page by page.
        const viaReq = (since: number) =>
          Effect.gen(function* () {
            let until: number | undefined
            let n = 0
            const seen = new Set<string>()
            for (let page = 0; page < 10_000; page++) {
              const events = yield* up.client.query([{ ...filter, since, ...(until === undefined ? {} : { until }), limit: 500 }])
              const fresh = events.filter((e) => !seen.has(e.id))
              if (fresh.length === 0) break
              for (const e of fresh) {
                seen.add(e.id)
                yield* store1(e, "catchup")
              }
              n += fresh.length
              until = Math.min(...events.map((e) => e.created_at))
            }
            return n
          })

        const catchup = (since: number) =>
          Effect.gen(function* () {
            const tried = yield* Effect.result(viaNegentropy(since))
            if (tried._tag === "Success") {
              yield* Metric.update(M.mirrorCatchups(url, "negentropy"), 1)
              return yield* Effect.logInfo(`mirror ${url}: caught up since ${since} with NIP-77 (${tried.success} events fetched)`)
            }
            const why = typeof tried.failure === "string" ? tried.failure : (tried.failure as RelayClientError).message
            const n = yield* viaReq(since)
            yield* Metric.update(M.mirrorCatchups(url, "req"), 1)
            yield* Effect.logInfo(`mirror ${url}: caught up since ${since} by REQ (${n} events; no NIP-77: ${why})`)
          }).pipe(
            Effect.catch((e: RelayClientError) =>
              Effect.gen(function* () {
                // Asked again after the next connect.
                up.catchupFrom = Math.min(up.catchupFrom ?? Number.POSITIVE_INFINITY, since)
                yield* Effect.logWarning(`mirror ${url}: catch-up failed: ${e.message}`)
              })
            )
          )

        yield* Effect.forkScoped(
          Effect.forever(
            Effect.gen(function* () {
              const item = yield* Queue.take(queue)
              if (item !== "catchup") yield* store1(item, "live")
              if (up.catchupFrom !== undefined && up.client.connectionState === "open") {
                const since = up.catchupFrom
                up.catchupFrom = undefined
                yield* catchup(since)
              }
            })
          )
        )
      })

    yield* Effect.forEach(config.mirrorUpstreams, start, { discard: true })
  })
)
