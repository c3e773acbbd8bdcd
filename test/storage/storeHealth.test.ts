/**
 * StoreHealth's state without a database: what makes the store unavailable
 * (the server, the probe) and what only makes it not ready (failing writes),
 * that a gated store refuses at once and answers calls under way when the
 * store goes, that load cannot fake an outage, and the supervisor's backoff.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { layerMemory } from "../../src/storage/memory/MemoryEventStore.ts"
import { EventStore, StoreError, type EventStoreShape } from "../../src/storage/EventStore.ts"
import { gated, StoreHealthState } from "../../src/storage/StoreHealth.ts"
import { storeRestartDelayMs } from "../../src/storage/postgres/EmbeddedSupervisor.ts"
import { makeEvent } from "../support/nostr.ts"

const memoryStore = Effect.provide(
  Effect.gen(function* () {
    return yield* EventStore
  }),
  layerMemory
)

describe("StoreHealthState", () => {
  it("is ready until the server or the probe says otherwise, and names why", () => {
    const h = new StoreHealthState()
    expect(h.status()).toMatchObject({ ready: true, server: "up", reason: "" })
    h.reportServer({ state: "down", reason: "the embedded PostgreSQL (pid 1) ended (signal SIGKILL)", restarts: 0 })
    expect(h.status()).toMatchObject({ ready: false, server: "down", reason: "the embedded PostgreSQL (pid 1) ended (signal SIGKILL)" })
    h.reportServer({ state: "up", reason: "", restarts: 1 })
    expect(h.status()).toMatchObject({ ready: true, restarts: 1 })
    h.probed("read pool: connect ECONNREFUSED", performance.now())
    expect(h.status()).toMatchObject({ ready: false, reason: "read pool: connect ECONNREFUSED" })
    h.probed(undefined, performance.now())
    expect(h.status().ready).toBe(true)
  })

  it("ignores a failed probe when a call succeeded meanwhile (a saturated pool is not an outage)", () => {
    const h = new StoreHealthState()
    const started = performance.now()
    h.succeeded()
    h.probed("ingest pool: SELECT 1 timed out after 2000 ms", started)
    expect(h.status().ready).toBe(true)
  })

  it("failing writes make it not ready but leave it available; a write clears them once none failed for 2 s", () => {
    const h = new StoreHealthState()
    h.writeFailed('could not extend file "base/1/2": No space left on device')
    expect(h.status()).toMatchObject({ ready: false, reason: 'writes fail: could not extend file "base/1/2": No space left on device' })
    expect(Effect.runSync(Effect.result(h.gate))._tag).toBe("Success")
    h.wrote()
    expect(h.status().ready).toBe(false)
    ;(h as unknown as { lastWriteFailure: number }).lastWriteFailure = performance.now() - 2001
    h.wrote()
    expect(h.status().ready).toBe(true)
  })

  it.effect("a gated store refuses at once while unavailable, and answers a call under way when the store goes", () =>
    Effect.gen(function* () {
      const h = new StoreHealthState()
      const stuck = yield* Deferred.make<void>()
      const inner: EventStoreShape = { ...(yield* memoryStore), query: () => Effect.as(Deferred.await(stuck), []) }
      const store = gated(inner, h)
      expect(yield* store.put(makeEvent({}))).toBe("stored")
      const pending = yield* Effect.forkChild(Effect.result(store.query([{}])))
      yield* Effect.yieldNow
      h.reportServer({ state: "down", reason: "the embedded PostgreSQL (pid 7) ended (signal SIGKILL)", restarts: 0 })
      const answered = yield* Fiber.join(pending)
      expect(answered._tag).toBe("Failure")
      if (answered._tag === "Failure") expect(answered.failure.message).toBe("the database is unavailable (the embedded PostgreSQL (pid 7) ended (signal SIGKILL))")
      const refused = yield* Effect.result(store.put(makeEvent({})))
      expect(refused._tag === "Failure" && refused.failure instanceof StoreError).toBe(true)
      h.reportServer({ state: "up", reason: "", restarts: 1 })
      expect(yield* store.put(makeEvent({}))).toBe("stored")
    })
  )

  it.effect("a call that ends, fails or is interrupted leaves nothing watching for the store's loss", () =>
    Effect.gen(function* () {
      const h = new StoreHealthState()
      const stuck = yield* Deferred.make<void>()
      const inner: EventStoreShape = {
        ...(yield* memoryStore),
        query: () => Effect.as(Deferred.await(stuck), []),
        count: () => Effect.fail(new StoreError({ message: "no" }))
      }
      const store = gated(inner, h)
      for (let i = 0; i < 10; i++) expect(yield* store.put(makeEvent({}))).toBe("stored")
      expect((yield* Effect.result(store.count([{}])))._tag).toBe("Failure")
      const pending = yield* Effect.forkChild(store.query([{}]))
      yield* Effect.yieldNow
      expect(h.pendingCalls()).toBe(1)
      yield* Fiber.interrupt(pending)
      expect(h.pendingCalls()).toBe(0)
      // A loss after the interruption touches nothing that ended.
      h.reportServer({ state: "down", reason: "gone", restarts: 0 })
      expect(h.pendingCalls()).toBe(0)
    })
  )
})

describe("gated writes", () => {
  const failingPut = (message: string, cause?: unknown) =>
    Effect.gen(function* () {
      const h = new StoreHealthState()
      const inner: EventStoreShape = { ...(yield* memoryStore), put: () => Effect.fail(new StoreError({ message, cause })) }
      yield* Effect.result(gated(inner, h).put(makeEvent({})))
      return h.status()
    })

  it.effect("a full disk counts as failing writes, though the driver's message names PgConnection", () =>
    Effect.gen(function* () {
      const status = yield* failingPut('could not store event: could not extend file "base/16384/16396_fsm": No space left on device (PgConnection: Query failed)')
      expect(status).toMatchObject({ ready: false, reason: expect.stringMatching(/^writes fail: .*No space left on device/) })
    })
  )

  it.effect("a lost connection does not (the probe decides)", () =>
    Effect.gen(function* () {
      expect((yield* failingPut("could not store event: connect ECONNREFUSED 127.0.0.1:5432 (PgConnection: Failed to connect)")).ready).toBe(true)
      expect((yield* failingPut("could not store event: terminating connection due to unexpected postmaster exit")).ready).toBe(true)
      expect((yield* failingPut("could not store event: boom", { reason: { _tag: "ConnectionError" } })).ready).toBe(true)
    })
  )
})

describe("the embedded server's restart backoff", () => {
  it("starts within a second and doubles to 30 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 30].map(storeRestartDelayMs)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
  })
})
