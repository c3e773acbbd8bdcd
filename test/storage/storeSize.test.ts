/**
 * EventStore.size, what the status page shows as the store's size: the memory
 * store's events as JSON text, PostgreSQL's database on disk (more than
 * nothing, growing with what is stored); through the StoreHealth gate too.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { eventJson } from "../../src/nostr/index.ts"
import { EventStore } from "../../src/storage/EventStore.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { gated, StoreHealthState } from "../../src/storage/StoreHealth.ts"
import { makeEvent, T0 } from "../support/nostr.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../support/postgres.ts"

const db = usePostgresDatabase()

describe("EventStore.size", () => {
  it.effect("memory: the stored events' JSON text, in bytes", () =>
    Effect.gen(function* () {
      const store = makeMemoryEventStore()
      expect(yield* store.size!).toBe(0)
      const events = [makeEvent({ created_at: T0, content: "é 中文" }), makeEvent({ created_at: T0 + 1, content: "x".repeat(1000) })]
      for (const e of events) yield* store.put(e)
      expect(yield* store.size!).toBe(events.reduce((n, e) => n + eventJson(e).length, 0))
    }))

  it.effect("the StoreHealth gate passes it through", () =>
    Effect.gen(function* () {
      const store = makeMemoryEventStore()
      yield* store.put(makeEvent({ created_at: T0 }))
      const health = new StoreHealthState()
      expect(yield* gated(store, health).size!).toBeGreaterThan(100)
    }))

  it.live("postgres: the database on disk, growing with what is stored", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const before = yield* store.size!
      expect(before).toBeGreaterThan(1_000_000)
      const events = Array.from({ length: 300 }, (_, i) => makeEvent({ created_at: T0 + i, content: "y".repeat(2000) }))
      yield* Effect.forEach(events, (e) => store.put(e), { concurrency: 100, discard: true })
      expect(yield* store.size!).toBeGreaterThan(before)
    }).pipe(Effect.provide(postgresStoreLayer(db))))
})
