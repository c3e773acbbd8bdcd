/**
 * Stored events reach the other processes with the commit that stored them:
 * the store's group-commit writer sends the batch's notifications in the
 * batch's own statement, for the events it stored only (no duplicates, no
 * superseded versions), whole or in pieces; a batch whose transaction fails
 * sends nothing (its events, retried one by one, then arrive once each).
 * Here two buses share one database in one process, standing for two
 * processes: A writes through the store, B listens.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Queue } from "effect"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { EventStore } from "../../src/storage/EventStore.ts"
import { makePostgresClusterBus } from "../../src/storage/postgres/PostgresClusterBus.ts"
import { PostgresStore } from "../../src/storage/postgres/PostgresEventStore.ts"
import type { BatchNotifier } from "../../src/storage/postgres/writer.ts"
import { makeEvent, newKey } from "../support/nostr.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../support/postgres.ts"

const db = usePostgresDatabase()
const now = () => Math.floor(Date.now() / 1000)

/** Bus A (its notifier on the store, possibly wrapped), bus B receiving into a queue. */
const twoBuses = (wrap: (n: BatchNotifier) => BatchNotifier = (n) => n) =>
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    const a = yield* makePostgresClusterBus({ admin: pg.admin, setBatchNotifier: (n) => pg.setBatchNotifier(n && wrap(n)) })
    const b = yield* makePostgresClusterBus({ admin: pg.admin, setBatchNotifier: () => {} })
    const received = yield* Queue.unbounded<NostrEvent>()
    b.onRemote((e) => Queue.offerUnsafe(received, e))
    // B listens once its LISTEN is in place: wait for an ephemeral probe from A.
    const probe = makeEvent({ kind: 20001, created_at: now(), content: "probe" })
    for (;;) {
      a.publish(probe)
      const got = yield* Queue.take(received).pipe(Effect.timeoutOption("200 millis"))
      if (got._tag === "Some") break
    }
    return { a, received, store: yield* EventStore, pg }
  })

/** Takes events until the marker (published ephemeral on A after everything else) arrives. */
const takeUntilMarker = (a: { readonly publish: (e: NostrEvent) => void }, received: Queue.Queue<NostrEvent>) =>
  Effect.gen(function* () {
    const marker = makeEvent({ kind: 20001, created_at: now(), content: "marker" })
    a.publish(marker)
    const got: Array<string> = []
    for (;;) {
      const e = yield* Queue.take(received)
      if (e.id === marker.id) return got
      if (e.content !== "probe") got.push(e.id) // a late copy of a readiness probe
    }
  })

describe("stored events go out with their batch's commit", () => {
  it.live(
    "only what the batch stored, once, small and in pieces",
    () =>
      Effect.gen(function* () {
        const { a, received, store } = yield* twoBuses()
        const key = newKey()
        const t = now()
        const small = makeEvent({ created_at: t, content: "small" }, key)
        const big = makeEvent({ created_at: t, content: "€".repeat(20_000) }, key) // 60 KB in UTF-8
        const newer = makeEvent({ kind: 10002, created_at: t, content: "newer" }, key)
        const older = makeEvent({ kind: 10002, created_at: t - 10, content: "older" }, key)
        // One batch: small, big, small again (duplicate in the batch), newer and older of one replaceable.
        const outcomes = yield* Effect.all([small, big, small, newer, older].map((e) => store.put(e)), { concurrency: "unbounded" })
        expect(outcomes).toEqual(["stored", "stored", "duplicate", "stored", "superseded"])
        // Already stored: a duplicate, not sent again.
        expect(yield* store.put(small)).toBe("duplicate")
        const got = yield* takeUntilMarker(a, received)
        expect(got.sort()).toEqual([small.id, big.id, newer.id].sort())
      }).pipe(Effect.provide(postgresStoreLayer(db))),
    30_000
  )

  it.live(
    "a batch whose transaction fails sends nothing; its events, retried one by one, arrive once",
    () =>
      Effect.gen(function* () {
        let poisoned = 0
        // A batch of more than one event gets a last notification PostgreSQL refuses (over 8,000 bytes):
        // the statement fails after queueing the good ones, which must then never be delivered.
        const poison = (n: BatchNotifier): BatchNotifier => ({
          origin: n.origin,
          notice: (events) => {
            const notice = n.notice(events)
            if (events.length < 2) return notice
            poisoned++
            return { ...notice, pieces: [...notice.pieces, "x".repeat(9000)], piecePos: [...notice.piecePos, 1] }
          }
        })
        const { a, received, store, pg } = yield* twoBuses(poison)
        const key = newKey()
        const events = Array.from({ length: 6 }, (_, i) => makeEvent({ created_at: now(), content: `e${i}` }, key))
        const fallbacks = pg.stats.fallbacks
        // Held until all are queued, so the writer takes them as one batch.
        const go = yield* Deferred.make<void>()
        const puts = yield* Effect.forkChild(
          Effect.all(events.map((e) => Effect.andThen(Deferred.await(go), store.put(e))), { concurrency: "unbounded" })
        )
        yield* Effect.yieldNow
        yield* Deferred.succeed(go, undefined)
        expect(yield* Fiber.join(puts)).toEqual(events.map(() => "stored"))
        expect(poisoned).toBeGreaterThan(0)
        expect(pg.stats.fallbacks).toBeGreaterThan(fallbacks)
        const got = yield* takeUntilMarker(a, received)
        expect(got.sort()).toEqual(events.map((e) => e.id).sort())
      }).pipe(Effect.provide(postgresStoreLayer(db, { writeBatchWaitMs: 50, ingestPoolSize: 1 }))),
    30_000
  )
})

describe("a process alone on the bus sends no notifications (migration 0010)", () => {
  it.live(
    "goes quiet while nobody else listens, and a listener that appears misses nothing stored after it listens",
    () =>
      Effect.gen(function* () {
        const pg = yield* PostgresStore
        const store = yield* EventStore
        const key = newKey()
        // A alone: its own listener does not count.
        yield* makePostgresClusterBus(pg)
        for (let i = 0; i < 3; i++) expect(yield* store.put(makeEvent({ created_at: now(), content: `alone ${i}` }, key))).toBe("stored")
        // The first batch notifies (nobody has said "alone" yet) and learns it is alone; the rest are quiet.
        expect(pg.stats.quietBatches).toBeGreaterThanOrEqual(2)
        expect(pg.stats.quietRefused).toBe(0)
        // B appears: once it counts as listening (its gap signal: the barrier has passed), every commit reaches it.
        const b = yield* makePostgresClusterBus({ admin: pg.admin, setBatchNotifier: () => {} })
        const received = yield* Queue.unbounded<NostrEvent>()
        b.onRemote((e) => Queue.offerUnsafe(received, e))
        const listening = yield* Deferred.make<void>()
        b.onGap?.(() => Deferred.doneUnsafe(listening, Effect.void))
        yield* Deferred.await(listening)
        const quiet = pg.stats.quietBatches
        const first = makeEvent({ created_at: now(), content: "the first after B listens" }, key)
        expect(yield* store.put(first)).toBe("stored")
        // A's writer still believed it was alone: its quiet statement was refused and the batch sent again, notifying.
        expect(pg.stats.quietRefused).toBe(1)
        expect(pg.stats.quietBatches).toBe(quiet)
        const got = yield* Queue.take(received).pipe(Effect.timeout("5 seconds"))
        expect(got.id).toBe(first.id)
        // Later batches notify too (the statement says others listen).
        const second = makeEvent({ created_at: now(), content: "the second" }, key)
        expect(yield* store.put(second)).toBe("stored")
        expect((yield* Queue.take(received).pipe(Effect.timeout("5 seconds"))).id).toBe(second.id)
        expect(pg.stats.quietBatches).toBe(quiet)
        // Nothing was stored twice by the refused quiet statement.
        expect(yield* store.query([{ ids: [first.id, second.id] }])).toHaveLength(2)
      }).pipe(Effect.provide(postgresStoreLayer(db))),
    30_000
  )
})
