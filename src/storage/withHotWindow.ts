/**
 * The hot window (./HotWindow.ts) in front of an event store: a decorator of
 * EventStore, applied by storage/layer.ts to the PostgreSQL store
 * (`hotWindowBytes`; 0 turns it off).
 *
 * - Filled from the writer's commits (a put that stored the event, or found
 *   it stored) and from the cluster bus (what other processes stored), so
 *   every process holds the same window; at start, and whenever the bus may
 *   have missed something (`ClusterBus.onGap`) or a write failed without a
 *   clear outcome, it is emptied and filled again from the store, newest
 *   first, until its budget is full.
 * - Emptied of what the store removes: deletion requests and requests to
 *   vanish (applied here, or heard from another process as the stored
 *   request event), replaced versions, the expiry and retention purges.
 * - REQ (`queryServed`) and COUNT are answered from the window when it
 *   provably holds the whole answer, from the store otherwise, or both
 *   merged; `FreshReads`, `search` and NIP-77 go to the store.
 *
 * Size, coverage and hits show in /metrics (read when scraped).
 */
import { Clock, Context, Effect, Layer, Metric, Scope } from "effect"
import { ClusterBus, type ClusterBusShape } from "../cluster/ClusterBus.ts"
import { RelayConfig } from "../config/RelayConfig.ts"
import { removesAnything, retentionPolicyOf } from "../config/retention.ts"
import {
  compareNewestFirst,
  deletionRequestOf,
  eventJson,
  hllAdd,
  HLL_REGISTERS,
  isEphemeral,
  type Filter,
  type NostrEvent,
  type ServedEvent
} from "../nostr/index.ts"
import { EventStore, FreshReads, queryServed, type EventStoreShape, type StoreError } from "./EventStore.ts"
import { entryBytes, makeHotWindow, type HotWindow, type HotWindowOptions } from "./HotWindow.ts"

const liveClock = Clock.Clock.defaultValue()

const DELETION_KIND = 5
const VANISH_KIND = 62

/** Events per store query while filling the window. */
const WARM_PAGE = 1000

/** What a filled event is taken to hold while the fill decides how far back to read (its lists unknown yet: ~4). */
const fillEstimate = (json: string): number => entryBytes(json, 4)

export type Outcome = "hit" | "partial" | "miss"

export interface HotWindowCounters {
  /** REQs and COUNTs by where their answer came from. */
  readonly answers: Record<Outcome, number>
  /** Times the window was emptied and filled again. */
  rebuilds: number
}

const bytesGauge = Metric.gauge("parrhesia_hot_window_bytes", { description: "Estimated bytes the hot window holds" })
const eventsGauge = Metric.gauge("parrhesia_hot_window_events", { description: "Events in the hot window" })
const floorGauge = Metric.gauge("parrhesia_hot_window_covered_since", {
  description: "The hot window holds every stored event from this created_at on (0: all of them; -1: none yet, filling)"
})
const answersCounter = (result: Outcome) =>
  Metric.counter("parrhesia_hot_window_answers_total", {
    description: "REQs and COUNTs by where the answer came from: hit (the hot window), partial (window and store), miss (the store)",
    attributes: { result }
  })
const rebuildsCounter = Metric.counter("parrhesia_hot_window_rebuilds_total", {
  description: "Times the hot window was emptied and filled again from the store (start, bus gaps, failed writes)"
})

/** The window's metrics, read when /metrics is scraped; removed with the scope. */
const registerMetrics = (window: HotWindow, counters: HotWindowCounters) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<never>()
    const gauge = (m: Metric.Metric<number, Metric.GaugeState<number>>, get: () => number) =>
      Metric.registerUnsafe(m, context, { get: () => ({ value: get() }), update: () => {}, modify: () => {} })
    const counter = (m: Metric.Metric<number, Metric.CounterState<number>>, get: () => number) =>
      Metric.registerUnsafe(m, context, { get: () => ({ count: get(), incremental: true }), update: () => {}, modify: () => {} })
    const registrations = [
      gauge(bytesGauge, () => window.stats().bytes),
      gauge(eventsGauge, () => window.stats().events),
      gauge(floorGauge, () => {
        const f = window.stats().floor
        return f === Infinity ? -1 : f === -Infinity ? 0 : f
      }),
      ...(["hit", "partial", "miss"] as const).map((r) => counter(answersCounter(r), () => counters.answers[r])),
      counter(rebuildsCounter, () => counters.rebuilds)
    ]
    yield* Effect.addFinalizer(() => Effect.sync(() => registrations.forEach((r) => r.remove())))
  })

/** Several answers merged: duplicates dropped, newest first. */
const merge = (a: ReadonlyArray<ServedEvent>, b: ReadonlyArray<ServedEvent>): ReadonlyArray<ServedEvent> => {
  if (a.length === 0) return b
  if (b.length === 0) return a
  const seen = new Set<string>()
  const out: Array<ServedEvent> = []
  for (const list of [a, b]) {
    for (const e of list) {
      const id = e.id
      if (!seen.has(id)) (seen.add(id), out.push(e))
    }
  }
  return out.sort(compareNewestFirst)
}

export interface HotWindowStore {
  readonly store: EventStoreShape
  readonly bus: ClusterBusShape
  readonly window: HotWindow
  readonly counters: HotWindowCounters
  /** Completes when the window answers (filled from the store). */
  readonly ready: Effect.Effect<void>
}

/**
 * The decorated store and bus over `inner` and `bus`. Scoped: the fill runs in the background
 * after the first one (which the caller may await through `ready`), and the metrics go with the scope.
 */
export const makeHotWindowStore = (inner: EventStoreShape, bus: ClusterBusShape, options: HotWindowOptions) =>
  Effect.gen(function* () {
    const window = makeHotWindow(options)
    const counters: HotWindowCounters = { answers: { hit: 0, partial: 0, miss: 0 }, rebuilds: 0 }
    const services = yield* Effect.context<never>()
    const scope = yield* Effect.scope
    const run = Effect.runForkWith(services)
    const rebuildDelayMs = options.rebuildAfterVanishMs ?? options.vanishGraceMs ?? 60_000
    const minFillIntervalMs = options.minFillIntervalMs ?? 1000
    yield* registerMetrics(window, counters)

    // ------------------------------------------------------------ filling

    /** Bumped by every rebuild: a fill of an older generation stops. */
    let generation = 0
    let filling = false
    let failing = false
    let lastFill = 0
    let closed = false
    let waiters: Array<() => void> = []

    /**
     * One fill from the store: pages newest first until they hold the budget's worth or the store
     * has no more, then added oldest first. (Added as they came, newest first, every event went to
     * the front of each sorted index list: quadratic, 0.3-1.0 s for the ~35,000 events of 32 MiB and
     * 5.6-9.7 s for 100,000; oldest first each lands at the end, or just before the few live commits
     * that arrived meanwhile.) Eviction then trims whatever the estimate let through and raises the
     * floor further when it does.
     */
    const fillOnce = (gen: number): Effect.Effect<"done" | "superseded", StoreError> =>
      Effect.gen(function* () {
        let until: number | undefined
        const pages: Array<ReadonlyArray<ServedEvent>> = []
        let bytes = 0
        let claim = -Infinity
        for (;;) {
          const filter: Filter = until === undefined ? { limit: WARM_PAGE } : { limit: WARM_PAGE, until }
          const page = yield* Effect.provideService(queryServed(inner, [filter]), FreshReads, true)
          if (gen !== generation) return "superseded"
          pages.push(page)
          for (const s of page) bytes += fillEstimate(s.json)
          const last = page[page.length - 1]
          // The store has no more: all of it.
          if (last === undefined || page.length < WARM_PAGE) break
          // The budget's worth is read (by the estimate, which may be above what the entries take, so
          // eviction need not raise the floor): claim only the seconds after the oldest one read, whose
          // other events may be on the next page.
          if (bytes >= options.maxBytes || !window.accepts(last.created_at)) {
            claim = last.created_at + 1
            break
          }
          // A page of one second only: the rest of that second may not fit a page; claim after it.
          if (until === last.created_at && page[0]!.created_at === until) {
            claim = until + 1
            break
          }
          until = last.created_at
        }
        for (let p = pages.length - 1; p >= 0; p--) {
          const page = pages[p]!
          for (let i = page.length - 1; i >= 0; i--) {
            const s = page[i]!
            if (window.accepts(s.created_at)) window.add(s.event(), s.json, "fill")
          }
        }
        window.open(claim)
        return "done"
      })

    const settle = () => {
      const w = waiters
      waiters = []
      for (const f of w) f()
    }

    /** Fills until a fill of the current generation completes; `filling` is cleared as it ends (not later). */
    const fillLoop: Effect.Effect<void> = Effect.gen(function* () {
      for (;;) {
        if (closed) {
          filling = false
          return
        }
        // Fills start at most once a second: a burst of gaps (or of failed writes) costs one fill, not one each.
        const wait = lastFill + minFillIntervalMs - Date.now()
        if (wait > 0) yield* Effect.provideService(Effect.sleep(wait), Clock.Clock, liveClock)
        lastFill = Date.now()
        const gen = generation
        const r = yield* fillOnce(gen).pipe(
          Effect.catch((e) =>
            // Once per spell of failures (an outage would log every 2 s otherwise).
            failing
              ? Effect.succeed("failed" as const)
              : Effect.as(Effect.logWarning(`hot window: filling from the store failed (${e.message}); trying again every 2 s`), "failed" as const)
          )
        )
        failing = r === "failed"
        if (r === "done" && gen === generation) {
          filling = false
          return settle()
        }
        if (r === "failed") yield* Effect.provideService(Effect.sleep("2 seconds"), Clock.Clock, liveClock)
      }
    })

    /**
     * After a request to vanish cost coverage: fill again once the events that may have raced it
     * have arrived (the grace during which such arrivals raise the floor instead).
     */
    let rebuildScheduled = false
    const rebuildLater = () => {
      if (rebuildScheduled || closed) return
      if (rebuildDelayMs <= 0) return rebuild()
      rebuildScheduled = true
      run(
        Effect.provideService(Effect.sleep(rebuildDelayMs), Clock.Clock, liveClock).pipe(
          Effect.andThen(
            Effect.sync(() => {
              rebuildScheduled = false
              rebuild()
            })
          ),
          Effect.forkIn(scope)
        )
      )
    }

    /** Empties the window and fills it again (in the background); answers go to the store meanwhile. */
    const rebuild = () => {
      if (closed) return
      generation++
      counters.rebuilds++
      window.reset()
      if (!filling) {
        filling = true
        run(Effect.forkIn(fillLoop, scope))
      }
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        generation++
        settle()
      })
    )

    // ------------------------------------------------------------ the bus: other processes' commits

    /** A stored event from another process: its effect (a request's), then the event itself. */
    const remote = (e: NostrEvent) => {
      if (isEphemeral(e.kind)) return
      if (e.kind === DELETION_KIND) window.deleteByRequest(deletionRequestOf(e))
      else if (e.kind === VANISH_KIND && window.vanish(e.pubkey, e.created_at)) rebuildLater()
      window.add(e, eventJson(e), "remote")
    }
    let handler: (e: NostrEvent) => void = () => {}
    bus.onRemote((e) => {
      remote(e)
      handler(e)
    })
    let started = false
    let gapBeforeStart = false
    bus.onGap?.(() => {
      if (started) rebuild()
      else gapBeforeStart = true
    })
    started = true
    // Without a gap signal the bus never misses anything: fill now. With one, the first signal
    // (the bus listening) starts the fill, so nothing committed before it can be missed.
    if (bus.onGap === undefined || gapBeforeStart) rebuild()

    const wrappedBus: ClusterBusShape = {
      publish: bus.publish,
      onRemote: (h) => {
        handler = h
      },
      ...(bus.onGap !== undefined ? { onGap: bus.onGap } : {})
    }

    // ------------------------------------------------------------ the store

    /** A write whose outcome is unknown may have changed the store unseen: start over. */
    const unsure = (err: StoreError) =>
      Effect.sync(() => {
        if (err.unstorable !== true) rebuild()
      })

    const nowOf = (fiber: { readonly getRef: <A>(ref: Context.Reference<A>) => A }) =>
      Math.floor(fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() / 1000)

    const store: EventStoreShape = {
      ...inner,
      put: (e) =>
        inner.put(e).pipe(
          Effect.map((outcome) => {
            // "duplicate": stored already (a retried batch may have committed the first time).
            if (outcome === "stored" || outcome === "duplicate") window.add(e, eventJson(e), "local")
            return outcome
          }),
          Effect.tapError(unsure)
        ),
      queryServed: (filters) =>
        Effect.withFiber((fiber) => {
          if (fiber.getRef(FreshReads)) return queryServed(inner, filters)
          const plan = window.plan(filters, nowOf(fiber))
          counters.answers[plan.result]++
          if (plan.rest.length === 0) return Effect.succeed(plan.local)
          const stored = queryServed(inner, plan.rest)
          if (plan.local.length === 0) return stored
          return Effect.map(stored, (s) => merge(plan.local, s))
        }),
      count: (filters) =>
        Effect.withFiber((fiber) => {
          const found = fiber.getRef(FreshReads) ? undefined : window.countable(filters, nowOf(fiber))
          if (found === undefined) {
            counters.answers.miss++
            return inner.count(filters)
          }
          counters.answers.hit++
          return Effect.succeed(found.length)
        }),
      countHll: (filters, offset) =>
        Effect.withFiber((fiber) => {
          const found = fiber.getRef(FreshReads) ? undefined : window.countable(filters, nowOf(fiber))
          if (found === undefined) {
            counters.answers.miss++
            return inner.countHll(filters, offset)
          }
          counters.answers.hit++
          const hll = new Uint8Array(HLL_REGISTERS)
          for (const e of found) hllAdd(hll, e.pubkey, offset)
          return Effect.succeed({ count: found.length, hll })
        }),
      deleteByRequest: (r) =>
        inner.deleteByRequest(r).pipe(
          Effect.tap(() => Effect.sync(() => window.deleteByRequest(r))),
          Effect.tapError(unsure)
        ),
      vanish: (pubkey, until) =>
        inner.vanish(pubkey, until).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              if (window.vanish(pubkey, until)) rebuildLater()
            })
          ),
          Effect.tapError(unsure)
        ),
      purgeExpired: (now) =>
        inner.purgeExpired(now).pipe(
          Effect.tap(() => Effect.sync(() => window.purgeExpired(now))),
          Effect.tapError(unsure)
        ),
      purgeByRetention: (policy, now) =>
        inner.purgeByRetention(policy, now).pipe(
          Effect.tap(() => Effect.sync(() => window.purgeByRetention(policy, now))),
          Effect.tapError(unsure)
        )
    }

    const ready: Effect.Effect<void> = Effect.callback<void>((resume) => {
      if (window.ready || closed) resume(Effect.void)
      else waiters.push(() => resume(Effect.void))
    })

    return { store, bus: wrappedBus, window, counters, ready } satisfies HotWindowStore
  })

/**
 * `stores` with the hot window in front of their EventStore (and the bus that fills it), when
 * `hotWindowBytes` is above 0. The first fill completes before the layer does (so before the
 * relay takes connections), unless the bus has not started listening yet.
 */
export const withHotWindow = <A, E, R>(
  stores: Layer.Layer<A | EventStore | ClusterBus, E, R>
): Layer.Layer<A | EventStore | ClusterBus, E, R | RelayConfig> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const config = yield* RelayConfig
      // What `stores` provides (and passes through), without this layer's own scope.
      const context = Context.omit(Scope.Scope)(yield* Effect.context<A | EventStore | ClusterBus>()) as Context.Context<A | EventStore | ClusterBus>
      if (config.hotWindowBytes <= 0) return context
      const retention = retentionPolicyOf(config)
      const made = yield* makeHotWindowStore(Context.get(context, EventStore), Context.get(context, ClusterBus), {
        maxBytes: config.hotWindowBytes,
        ...("error" in retention || !removesAnything(retention) ? {} : { retention })
      })
      // The first fill, bounded: a slow store must not hold the start up (answers go to it meanwhile).
      yield* Effect.provideService(made.ready.pipe(Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.void })), Clock.Clock, liveClock)
      return context.pipe(Context.add(EventStore, EventStore.of(made.store)), Context.add(ClusterBus, ClusterBus.of(made.bus)))
    })
  ).pipe(Layer.provide(stores))
