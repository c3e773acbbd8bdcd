/**
 * Retention on Postgres beyond the contract: a partition wholly past every
 * limit is dropped (with its event_tags twin, id claims and heads), a
 * partition holding a kind kept for ever is not (its expired rows are deleted
 * instead), and writes go on while a large purge runs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { nowSeconds } from "../../../src/nostr/index.ts"
import { EventStore } from "../../../src/storage/EventStore.ts"
import { PostgresStore } from "../../../src/storage/postgres/PostgresEventStore.ts"
import { parseRetention } from "../../../src/config/retention.ts"
import { makeEvent, newKey } from "../../support/nostr.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../../support/postgres.ts"

const db = usePostgresDatabase()

const policy = (text: string) => {
  const p = parseRetention(text)
  if ("error" in p) throw new Error(p.error)
  return p
}
const JAN_2020 = 1577836800
const FEB_2020 = 1580515200
const MAR_2020 = 1583020800

/** Makes monthly partitions of events and event_tags for [lo, hi). */
const partition = (suffix: string, lo: number, hi: number) =>
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    yield* pg.admin.unsafe(`SELECT parrhesia_create_partition('events', 'events_p${suffix}', ${lo}, ${hi})`)
    yield* pg.admin.unsafe(`SELECT parrhesia_create_partition('event_tags', 'event_tags_p${suffix}', ${lo}, ${hi})`)
  })
const exists = (table: string) =>
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    const rows = yield* pg.admin.unsafe<{ r: string | null }>(`SELECT to_regclass('${table}')::text AS r`)
    return rows[0]?.r !== null
  })
const countOf = (sql: string) =>
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    const rows = yield* pg.admin.unsafe<{ n: number }>(`SELECT count(*)::integer AS n FROM ${sql}`)
    return rows[0]!.n
  })

describe("postgres retention", () => {
  it.live("drops a partition wholly past every limit, keeps one holding a kind kept for ever", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const now = yield* nowSeconds
      yield* partition("202001", JAN_2020, FEB_2020)
      yield* partition("202002", FEB_2020, MAR_2020)
      const k = newKey()
      const jan = [
        makeEvent({ kind: 1, created_at: JAN_2020 + 10, tags: [["t", "x"]] }, k),
        makeEvent({ kind: 0, created_at: JAN_2020 + 20 }, k),
        makeEvent({ kind: 30023, created_at: JAN_2020 + 30, tags: [["d", "a"]] }, k)
      ]
      const febProfile = makeEvent({ kind: 3, created_at: FEB_2020 + 10 }, newKey())
      const febNote = makeEvent({ kind: 1, created_at: FEB_2020 + 20, tags: [["t", "y"]] }, k)
      for (const e of [...jan, febProfile, febNote]) expect(yield* store.put(e)).toBe("stored")
      const recent = makeEvent({ kind: 1, created_at: now - 60 }, k)
      expect(yield* store.put(recent)).toBe("stored")

      // Kind 3 is kept for ever: February stays, its kind-1 row goes; January goes whole.
      const removed = yield* store.purgeByRetention(policy("3=never,default=365d"), now)
      expect(removed).toBe(jan.length + 1)
      expect(yield* exists("events_p202001")).toBe(false)
      expect(yield* exists("event_tags_p202001")).toBe(false)
      expect(yield* exists("events_p202002")).toBe(true)
      expect(yield* countOf("events_p202002")).toBe(1)
      expect(yield* countOf(`event_tags WHERE value = 'y'`)).toBe(0)
      // Id claims and heads of the dropped events are released: they can be stored again.
      expect(yield* countOf(`replaceable_heads WHERE created_at < ${FEB_2020}`)).toBe(0)
      expect(yield* store.put(jan[1]!)).toBe("stored")
      const left = yield* store.query([{ authors: [k.pk] }])
      expect(left.map((e) => e.id).sort()).toEqual([recent.id, jan[1]!.id].sort())
    }).pipe(Effect.provide(postgresStoreLayer(db))))

  it.live("a partition made over rows in the default partition moves them, searchable as before", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const JAN_2021 = 1609459200
      const e = makeEvent({ created_at: JAN_2021 + 5, content: "moved into its partition" })
      expect(yield* store.put(e)).toBe("stored")
      yield* partition("202101", JAN_2021, JAN_2021 + 31 * 86400)
      expect(yield* countOf("events_p202101")).toBe(1)
      expect(yield* countOf("events_default WHERE created_at >= 1609459200 AND created_at < 1612137600")).toBe(0)
      expect((yield* store.query([{ search: "moved partition" }])).map((x) => x.id)).toEqual([e.id])
    }).pipe(Effect.provide(postgresStoreLayer(db))))

  it.live("writes keep flowing while a large purge runs", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const now = yield* nowSeconds
      const old = now - 400 * 86400
      // 20,000 old rows straight into the tables (the store does not check signatures).
      yield* pg.admin.unsafe(
        `WITH ins AS (
           INSERT INTO events (id, pubkey, created_at, kind, tags, content, sig)
           SELECT sha256(('r' || g)::bytea), decode(repeat('ab', 32), 'hex'), ${old} - g, 1, '[]'::jsonb, 'old ' || g, decode(repeat('00', 64), 'hex')
           FROM generate_series(1, 20000) AS g RETURNING id)
         INSERT INTO event_ids (id) SELECT id FROM ins`
      )
      const purge = yield* Effect.forkChild(store.purgeByRetention(policy("1=30d"), now))
      const k = newKey()
      const fresh = Array.from({ length: 50 }, (_, i) => makeEvent({ created_at: now - i }, k))
      const outcomes = yield* Effect.forEach(fresh, (e) => store.put(e), { concurrency: "unbounded" })
      expect(outcomes.every((o) => o === "stored")).toBe(true)
      expect(yield* Fiber.join(purge)).toBe(20000)
      expect(yield* store.count([{ authors: [k.pk] }])).toBe(50)
      expect(yield* countOf("events")).toBe(50)
    }).pipe(Effect.provide(postgresStoreLayer(db))), 120_000)
})
