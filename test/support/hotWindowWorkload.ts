/**
 * Random workloads for the hot window's property tests (test/storage/hotWindow.prop.test.ts on the
 * memory store, test/storage/postgres/hotWindow.prop.test.ts on PostgreSQL): publish, replace,
 * delete, vanish, expire, retention, bans, AUTH as authors and recipients, bus gaps, on several
 * "processes" (each its own window in front of one shared store, the others hearing each commit
 * through a bus whose deliveries lag). Every REQ and COUNT answered through a process's window must
 * equal the answer of the store alone, through the same read pipeline (Query: limits, private-kind
 * scoping, bans).
 */
import { Clock, Context, Effect, Layer, type Scope } from "effect"
import fc from "fast-check"
import { expect } from "vitest"
import type { ClusterBusShape } from "../../src/cluster/ClusterBus.ts"
import { defaults, RelayConfig } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { makeModeration } from "../../src/moderation/Moderation.ts"
import { deletionRequestOf, type NostrEvent } from "../../src/nostr/index.ts"
import { fromSettings, Policy, type PolicyShape } from "../../src/policy/Policy.ts"
import type { RequestContext } from "../../src/policy/types.ts"
import { Query, type QueryShape } from "../../src/query/Query.ts"
import { EventStore, type EventStoreShape } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { makeMemoryModerationStore } from "../../src/storage/memory/MemoryModerationStore.ts"
import { makeHotWindowStore, type HotWindowStore } from "../../src/storage/withHotWindow.ts"

const T0 = 1_000_000
const PUBKEYS = ["a", "b", "c"].map((c) => c.repeat(64))
const KINDS = [0, 1, 1, 1, 4, 5, 7, 62, 1059, 10002, 30023]
const ID_POOL = 40
const idOf = (n: number) => ((n * 2654435761) % 2 ** 32).toString(16).padStart(8, "0").repeat(8)
const IDS = Array.from({ length: ID_POOL }, (_, i) => idOf(i + 1))

// ------------------------------------------------------------------ operations

export type Op =
  | { readonly op: "publish"; readonly proc: number; readonly pubkey: number; readonly kind: number; readonly dt: number; readonly tags: ReadonlyArray<ReadonlyArray<string>> }
  | { readonly op: "delete"; readonly proc: number; readonly back: ReadonlyArray<number>; readonly own: boolean; readonly k: number | undefined; readonly dt: number }
  | { readonly op: "vanish"; readonly proc: number; readonly pubkey: number; readonly dt: number }
  | { readonly op: "deliver"; readonly proc: number; readonly n: number }
  | { readonly op: "tick"; readonly seconds: number }
  | { readonly op: "retention" }
  | { readonly op: "ban"; readonly what: "pubkey" | "event"; readonly n: number }
  | { readonly op: "gap"; readonly proc: number }
  | { readonly op: "query"; readonly proc: number; readonly filters: ReadonlyArray<Record<string, unknown>>; readonly auth: ReadonlyArray<number> }

const tagArb = fc.oneof(
  fc.tuple(fc.constant("e"), fc.constantFrom(...IDS.slice(0, 12))),
  fc.tuple(fc.constant("p"), fc.constantFrom(...PUBKEYS)),
  fc.tuple(fc.constant("t"), fc.constantFrom("x", "y")),
  fc.tuple(fc.constant("d"), fc.constantFrom("", "x")),
  fc.tuple(fc.constant("k"), fc.constantFrom("1", "7", "30023")),
  fc.tuple(fc.constant("a"), fc.constantFrom("30023", "0", "10002"), fc.nat({ max: 2 }), fc.constantFrom("", "x")).map(
    ([, kind, pk, d]) => ["a", `${kind}:${PUBKEYS[pk]}:${d}`]
  ),
  fc.tuple(fc.constant("expiration"), fc.integer({ min: T0, max: T0 + 20 }).map(String))
)

const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })

const detailedFilterArb = fc
  .record({
    ids: sometimes(fc.subarray(IDS.slice(0, 16), { maxLength: 4 })),
    authors: sometimes(fc.subarray(PUBKEYS, { minLength: 1 })),
    kinds: sometimes(fc.subarray([0, 1, 4, 5, 7, 62, 1059, 10002, 30023], { minLength: 1, maxLength: 3 })),
    "#p": sometimes(fc.subarray(PUBKEYS, { minLength: 1 })),
    "#t": sometimes(fc.subarray(["x", "y"], { minLength: 1 })),
    "#e": sometimes(fc.subarray(IDS.slice(0, 12), { minLength: 1, maxLength: 3 })),
    since: sometimes(fc.integer({ min: T0 - 12, max: T0 + 12 })),
    until: sometimes(fc.integer({ min: T0 - 12, max: T0 + 12 })),
    limit: sometimes(fc.integer({ min: 0, max: 8 }))
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)))

/** Broad filters too, so that what a workload removed (or should have) shows. */
const rawFilterArb = fc.oneof(
  detailedFilterArb,
  fc.record({ limit: fc.integer({ min: 1, max: 8 }) }),
  fc.constant({}),
  fc.record({ kinds: fc.subarray([0, 1, 4, 5, 7, 1059, 30023], { minLength: 1, maxLength: 2 }) }),
  fc.record({ authors: fc.subarray(PUBKEYS, { minLength: 1, maxLength: 1 }), limit: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ "#p": fc.subarray(PUBKEYS, { minLength: 2 }) }),
  // Many values of a tag (the window checks them on the parsed event, not one by one in its index).
  fc.record({ authors: fc.subarray(PUBKEYS, { minLength: 1, maxLength: 1 }), "#e": fc.constant(IDS.slice(0, 20)) }),
  fc.record({ since: fc.integer({ min: T0 - 12, max: T0 + 12 }) })
)

export const opArb = (procs: number): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 10,
      arbitrary: fc.record({
        op: fc.constant("publish" as const),
        proc: fc.nat({ max: procs - 1 }),
        pubkey: fc.nat({ max: PUBKEYS.length - 1 }),
        kind: fc.constantFrom(...KINDS),
        dt: fc.integer({ min: -10, max: 10 }),
        tags: fc.array(tagArb, { maxLength: 4 })
      })
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("delete" as const),
        proc: fc.nat({ max: procs - 1 }),
        back: fc.array(fc.nat({ max: 6 }), { minLength: 1, maxLength: 3 }),
        own: fc.boolean(),
        k: sometimes(fc.constantFrom(0, 1, 7, 30023)),
        dt: fc.integer({ min: -2, max: 10 })
      })
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant("vanish" as const), proc: fc.nat({ max: procs - 1 }), pubkey: fc.nat({ max: 2 }), dt: fc.integer({ min: -3, max: 3 }) })
    },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("deliver" as const), proc: fc.nat({ max: procs - 1 }), n: fc.nat({ max: 5 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("tick" as const), seconds: fc.integer({ min: 1, max: 8 }) }) },
    { weight: 1, arbitrary: fc.constant({ op: "retention" as const }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("ban" as const), what: fc.constantFrom("pubkey" as const, "event" as const), n: fc.nat({ max: 15 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("gap" as const), proc: fc.nat({ max: procs - 1 }) }) },
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant("query" as const),
        proc: fc.nat({ max: procs - 1 }),
        filters: fc.array(rawFilterArb, { minLength: 1, maxLength: 3 }),
        auth: fc.subarray([0, 1, 2])
      })
    }
  )

// ------------------------------------------------------------------ the system under test

const RETENTION = { rules: [{ from: 7, to: 7, maxAge: 5 }, { from: 1059, to: 1059, maxAge: 8 }], fallback: undefined }
const settings: Settings = { ...defaults(), retention: "7=5s,1059=8s", restrictedReadKinds: [4, 1059], defaultLimit: 6, maxLimit: 8 }

const buildQuery = (store: EventStoreShape, policy: PolicyShape) =>
  Effect.map(
    Layer.build(
      Query.layer.pipe(
        Layer.provide(Layer.mergeAll(RelayConfig.layerWith(settings), Layer.succeed(EventStore, store), Layer.succeed(Policy, policy)))
      )
    ),
    (ctx) => Context.get(ctx, Query)
  )

const answerOf = (q: QueryShape, ctx: RequestContext, raw: ReadonlyArray<unknown>) =>
  Effect.gen(function* () {
    const prepared = yield* Effect.result(q.prepare(raw, ctx))
    if (prepared._tag === "Failure") return { refused: prepared.failure._tag }
    const filters = prepared.success
    const req = yield* Effect.result(q.run(ctx, filters))
    const count = yield* Effect.result(q.count(ctx, filters))
    return {
      req: req._tag === "Success" ? req.success.map((e) => e.json) : `failed: ${req.failure._tag}`,
      count: count._tag === "Success" ? count.success : `failed: ${count.failure._tag}`
    }
  })

/** Runs `ops` on `procs` processes over `shared` (default: a fresh memory store); fails at the first answer that differs. */
export const runWorkload = (ops: ReadonlyArray<Op>, procs: number, maxBytes: number, makeShared: Effect.Effect<EventStoreShape, never, Scope.Scope> = Effect.sync(makeMemoryEventStore)) =>
  Effect.gen(function* () {
    // Built on the live clock (a store's connect timeouts must not fire at once on the fake one).
    const shared = yield* makeShared
    let now = T0
    const clock: Clock.Clock = {
      currentTimeMillisUnsafe: () => now * 1000,
      currentTimeMillis: Effect.sync(() => now * 1000),
      currentTimeNanosUnsafe: () => BigInt(now) * 1_000_000_000n,
      currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000_000n),
      monotonicTimeNanosUnsafe: () => BigInt(now) * 1_000_000_000n,
      monotonicTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000_000n),
      sleep: () => Effect.void
    }
    return yield* Effect.provideService(
      Effect.gen(function* () {
        const moderation = yield* makeModeration(settings, makeMemoryModerationStore())
        const policy = Policy.make(fromSettings(settings, moderation))
        const reference = yield* buildQuery(shared, policy)

        // One bus per process: a commit goes to the others' queues, delivered in order, late.
        const pending: Array<Array<NostrEvent>> = Array.from({ length: procs }, () => [])
        const handlers: Array<(e: NostrEvent) => void> = Array.from({ length: procs }, () => () => {})
        const gaps: Array<() => void> = Array.from({ length: procs }, () => () => {})
        const stores: Array<HotWindowStore> = []
        const queries: Array<QueryShape> = []
        for (let i = 0; i < procs; i++) {
          const committing: EventStoreShape = {
            ...shared,
            put: (e) =>
              Effect.tap(shared.put(e), (o) =>
                Effect.sync(() => {
                  if (o === "stored") for (let j = 0; j < procs; j++) if (j !== i) pending[j]!.push(e)
                })
              )
          }
          const bus: ClusterBusShape = {
            publish: () => {},
            onRemote: (h) => {
              handlers[i] = h
            },
            // Half the processes have a bus that reports gaps (the PostgreSQL one), half not.
            ...(i % 2 === 0 ? { onGap: (h: () => void) => ((gaps[i] = h), h()) } : {})
          }
          // Fill again at once after a request to vanish, while the bus still carries what raced it.
          const made = yield* makeHotWindowStore(committing, bus, {
            maxBytes,
            maxScan: 200,
            tombstones: 64,
            retention: RETENTION,
            rebuildAfterVanishMs: 0,
            minFillIntervalMs: 0
          })
          yield* made.ready
          stores.push(made)
          queries.push(yield* buildQuery(made.store, policy))
        }
        const deliver = (j: number, n: number) => {
          for (const e of pending[j]!.splice(0, n)) handlers[j]!(e)
        }

        const vanished = new Map<string, number>()
        let published = 0
        const recent: Array<NostrEvent> = []
        const checks: Array<unknown> = []
        const publish = (proc: number, pubkey: string, kind: number, dt: number, tags: ReadonlyArray<ReadonlyArray<string>>) =>
          Effect.gen(function* () {
          const e: NostrEvent = {
            id: IDS[published % ID_POOL]!,
            pubkey,
            created_at: now + dt,
            kind,
            tags,
            content: `#${published}`,
            sig: "0".repeat(128)
          }
          published++
          recent.unshift(e)
          recent.length = Math.min(recent.length, 8)
          // Ingest's rules: a vanished pubkey's older events are refused; requests act before they are stored.
          const until = vanished.get(pubkey)
          if (until !== undefined && e.created_at <= until && e.kind !== 62) return
          const store = stores[proc]!.store
          if (e.kind === 5) yield* store.deleteByRequest(deletionRequestOf(e))
          if (e.kind === 62) {
            yield* store.vanish(pubkey, e.created_at)
            vanished.set(pubkey, Math.max(until ?? -1, e.created_at))
          }
          yield* store.put(e)
          })
        // Fills started by an operation (a gap, a request to vanish) end before the next one.
        const settled = Effect.forEach(stores, (st) =>
          st.ready.pipe(
            Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die("the hot window never became ready") }),
            Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
          )
        )
        for (const o of ops) {
          yield* settled
          switch (o.op) {
            case "publish":
              yield* publish(o.proc, PUBKEYS[o.pubkey]!, o.kind, o.dt, o.tags)
              break
            case "delete": {
              const targets = o.back.flatMap((b) => (recent[b] === undefined ? [] : [recent[b]!]))
              if (targets.length === 0) break
              const author = o.own ? targets[0]!.pubkey : PUBKEYS[targets.length % PUBKEYS.length]!
              const tags = targets.map((t) => (t.kind >= 30000 && t.kind < 40000 ? ["a", `${t.kind}:${t.pubkey}:${t.tags.find((x) => x[0] === "d")?.[1] ?? ""}`] : ["e", t.id]))
              if (o.k !== undefined) tags.push(["k", String(o.k)])
              yield* publish(o.proc, author, 5, o.dt, tags)
              break
            }
            case "vanish":
              yield* publish(o.proc, PUBKEYS[o.pubkey]!, 62, o.dt, [["relay", "ALL_RELAYS"]])
              break
            case "deliver":
              deliver(o.proc, o.n)
              break
            case "tick":
              now += o.seconds
              // Maintenance runs in every process.
              for (const s of stores) yield* s.store.purgeExpired(now)
              break
            case "retention": {
              for (const s of stores) yield* s.store.purgeByRetention(RETENTION, now)
              break
            }
            case "ban":
              if (o.what === "pubkey") yield* moderation.banPubkey(PUBKEYS[o.n % PUBKEYS.length]!, "test")
              else yield* moderation.banEvent(IDS[o.n]!, "test")
              break
            case "gap":
              gaps[o.proc]!()
              break
            case "query": {
              for (let j = 0; j < procs; j++) deliver(j, Infinity)
              // The window never serves what is past its retention age; the store, once maintenance ran.
              yield* shared.purgeByRetention(RETENTION, now)
              const ctx: RequestContext = { connectionId: 1, ip: "127.0.0.1", authenticated: new Set(o.auth.map((k) => PUBKEYS[k]!)) }
              const expected = yield* answerOf(reference, ctx, o.filters)
              const got = yield* answerOf(queries[o.proc]!, ctx, o.filters)
              expect(got, JSON.stringify({ filters: o.filters, auth: o.auth, proc: o.proc, floor: stores[o.proc]!.window.floor })).toEqual(expected)
              checks.push(got)
              break
            }
          }
        }
        return { checks: checks.length, counters: stores.map((s) => s.counters.answers) }
      }),
      Clock.Clock,
      clock
    )
  }).pipe(Effect.scoped)
