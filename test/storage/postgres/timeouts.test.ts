/**
 * Every read has a time limit: a too-long query fails with StoreError and
 * gives its connection back; an exhausted read pool makes a query wait
 * briefly, then fail, instead of hanging.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { EventStore } from "../../../src/storage/EventStore.ts"
import { PostgresStore } from "../../../src/storage/postgres/PostgresEventStore.ts"
import { makeEvent } from "../../support/nostr.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../../support/postgres.ts"

const db = usePostgresDatabase()

describe("postgres store: time limits", () => {
  it.live("a too-long read fails with StoreError and frees its connection", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const t0 = Date.now()
      const r = yield* Effect.result(pg.readRaw("SELECT pg_sleep(5)"))
      expect(Date.now() - t0).toBeLessThan(2500)
      expect(r._tag).toBe("Failure")
      if (r._tag === "Failure") {
        expect(r.failure._tag).toBe("StoreError")
        expect(r.failure.message).toMatch(/statement timeout|timed out/)
      }
      // The only read connection serves the next query at once.
      const e = makeEvent({})
      expect(yield* store.put(e)).toBe("stored")
      const t1 = Date.now()
      expect((yield* store.query([{ ids: [e.id] }])).length).toBe(1)
      expect(Date.now() - t1).toBeLessThan(1000)
    }).pipe(Effect.provide(postgresStoreLayer(db, { queryTimeoutMs: 300, readPoolSize: 1 }))))

  it.live("an exhausted read pool: the query waits briefly, then fails with StoreError", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      yield* Effect.scoped(
        Effect.gen(function* () {
          // Hold the only read connection.
          yield* pg.read.reserve
          const t0 = Date.now()
          const r = yield* Effect.result(store.query([{ kinds: [1] }]))
          const waited = Date.now() - t0
          expect(r._tag).toBe("Failure")
          if (r._tag === "Failure") expect(r.failure.message).toMatch(/timed out/)
          expect(waited).toBeGreaterThanOrEqual(250)
          expect(waited).toBeLessThan(3000)
          const c = yield* Effect.result(store.count([{ kinds: [1] }]))
          expect(c._tag).toBe("Failure")
        })
      )
      // Released: served again.
      expect(yield* store.query([{ kinds: [1] }])).toEqual([])
    }).pipe(Effect.provide(postgresStoreLayer(db, { queryTimeoutMs: 300, readPoolSize: 1 }))))
})
