/**
 * Postgres adapter specifics beyond the contract suite: group commit, a bad
 * row inside a batch, replaceable resolution under concurrent writers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaults } from "../../../src/config/RelayConfig.ts"
import type { NostrEvent } from "../../../src/nostr/index.ts"
import { EventStore, type EventStoreShape } from "../../../src/storage/EventStore.ts"
import { makeFromSettings } from "../../../src/storage/postgres/layer.ts"
import { PostgresStore } from "../../../src/storage/postgres/PostgresEventStore.ts"
import { makeEvent, newKey, T0 } from "../../support/nostr.ts"
import { postgresStoreLayer, TABLES, usePostgresDatabase } from "../../support/postgres.ts"

const db = usePostgresDatabase()

/** The NIP-01 winner: newest created_at, then lowest id. */
const winnerOf = (events: ReadonlyArray<NostrEvent>) =>
  [...events].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))[0]!

describe("postgres store: group commit", () => {
  it.live("many concurrent puts are committed in few transactions", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const before = pg.stats.batches
      const events = Array.from({ length: 1000 }, (_, i) => makeEvent({ created_at: T0 + i, tags: [["t", `n${i % 7}`]] }))
      const outcomes = yield* Effect.all(
        events.map((e) => store.put(e)),
        { concurrency: "unbounded" }
      )
      expect(outcomes.every((o) => o === "stored")).toBe(true)
      const batches = pg.stats.batches - before
      // 1000 one-event transactions without group commit; batches of up to 200 here.
      expect(batches).toBeGreaterThanOrEqual(5)
      expect(batches).toBeLessThanOrEqual(60)
      expect(yield* store.count([{}])).toBe(1000)
    }).pipe(Effect.provide(postgresStoreLayer(db, { writeBatchSize: 200, writeBatchWaitMs: 5 }))))

  it.live("a batch with one bad row still stores the others; only the bad one fails", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const good = Array.from({ length: 40 }, (_, i) => makeEvent({ created_at: T0 + i }))
      // A kind outside PostgreSQL's integer: the database refuses this row, failing its whole batch.
      const bad: NostrEvent = { ...makeEvent({ created_at: T0 }), kind: 2 ** 31 }
      const fallbacks = pg.stats.fallbacks
      const results = yield* Effect.all(
        [...good.slice(0, 20), bad, ...good.slice(20)].map((e) => Effect.result(store.put(e))),
        { concurrency: "unbounded" }
      )
      const failures = results.filter((r) => r._tag === "Failure")
      expect(failures.length).toBe(1)
      expect(results.filter((r) => r._tag === "Success" && r.success === "stored").length).toBe(40)
      expect(pg.stats.fallbacks).toBeGreaterThan(fallbacks)
      const f = failures[0]!
      if (f._tag === "Failure") {
        expect(f.failure._tag).toBe("StoreError")
        expect(f.failure.message).toMatch(/could not store event/)
      }
      expect(yield* store.count([{}])).toBe(40)
      expect(yield* store.query([{ ids: [bad.id] }])).toEqual([])
    }).pipe(Effect.provide(postgresStoreLayer(db, { writeBatchSize: 100, writeBatchWaitMs: 20 }))))

  it.live("two versions of one address in the same batch: the NIP-01 winner is stored", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const k = newKey()
      const versions = [
        makeEvent({ kind: 0, created_at: T0 + 5 }, k),
        makeEvent({ kind: 0, created_at: T0 + 9 }, k),
        makeEvent({ kind: 0, created_at: T0 + 9 }, k),
        makeEvent({ kind: 0, created_at: T0 + 1 }, k),
        makeEvent({ kind: 30023, created_at: T0 + 3, tags: [["d", "x"]] }, k),
        makeEvent({ kind: 30023, created_at: T0 + 4, tags: [["d", "x"]] }, k)
      ]
      const batches = pg.stats.batches
      const outcomes = yield* Effect.all(
        versions.map((e) => store.put(e)),
        { concurrency: "unbounded" }
      )
      expect(pg.stats.batches - batches).toBe(1)
      const w0 = winnerOf(versions.slice(0, 4))
      const w1 = versions[5]!
      versions.forEach((e, i) => expect(outcomes[i]).toBe(e === w0 || e === w1 ? "stored" : "superseded"))
      expect(yield* store.query([{ authors: [k.pk], kinds: [0] }])).toEqual([w0])
      expect(yield* store.query([{ authors: [k.pk], kinds: [30023] }])).toEqual([w1])
      // A loser put again is still superseded, not a duplicate.
      expect(yield* store.put(versions[0]!)).toBe("superseded")
    }).pipe(Effect.provide(postgresStoreLayer(db, { writeBatchSize: 100, writeBatchWaitMs: 50 }))))
})

describe("postgres store: concurrent writers", () => {
  it.live("two store instances racing on one replaceable and one addressable address converge on the winner", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const settings = { ...defaults(), databaseUrl: db.url(), writeBatchWaitMs: 1, writeBatchSize: 8 }
        const a = yield* makeFromSettings(settings)
        yield* Effect.orDie(a.internals.admin.unsafe(`TRUNCATE ${TABLES}`))
        const b = yield* makeFromSettings(settings)
        const k = newKey()
        const replaceable = Array.from({ length: 60 }, (_, i) => makeEvent({ kind: 10002, created_at: T0 + (i % 13) }, k))
        const addressable = Array.from({ length: 60 }, (_, i) =>
          makeEvent({ kind: 30000, created_at: T0 + (i % 11), tags: [["d", "list"]] }, k)
        )
        const stores: Array<EventStoreShape> = [a.store, b.store]
        const all = [...replaceable, ...addressable].sort(() => Math.random() - 0.5)
        const outcomes = yield* Effect.all(
          all.map((e, i) => stores[i % 2]!.put(e)),
          { concurrency: "unbounded" }
        )
        expect(outcomes.every((o) => o === "stored" || o === "superseded")).toBe(true)
        expect(yield* a.store.query([{ authors: [k.pk], kinds: [10002] }])).toEqual([winnerOf(replaceable)])
        expect(yield* b.store.query([{ authors: [k.pk], kinds: [30000], tags: { d: ["list"] } }])).toEqual([
          winnerOf(addressable)
        ])
        // Exactly one row per address survives in the table, and its tags went with the losers.
        const rows = (yield* a.internals.readRaw(
          `SELECT kind, count(*)::int AS n FROM events GROUP BY kind ORDER BY kind`
        )) as ReadonlyArray<{ kind: number; n: number }>
        expect(rows).toEqual([
          { kind: 10002, n: 1 },
          { kind: 30000, n: 1 }
        ])
        const tagRows = (yield* a.internals.readRaw(`SELECT count(*)::int AS n FROM event_tags`)) as ReadonlyArray<{ n: number }>
        expect(tagRows[0]!.n).toBe(1)
        const ids = (yield* a.internals.readRaw(`SELECT count(*)::int AS n FROM event_ids`)) as ReadonlyArray<{ n: number }>
        expect(ids[0]!.n).toBe(2)
      })
    ), 60_000)
})
