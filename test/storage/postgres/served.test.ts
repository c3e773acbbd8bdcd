/**
 * REQ answers from the stored JSON text (migration 0006, queryServed): the text the database
 * keeps is the relay's eventJson byte for byte, and rows stored before the column existed
 * (NULL text) are still served, from their columns.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { computeEventId, eventJson, type NostrEvent } from "../../../src/nostr/index.ts"
import { EventStore, queryServed } from "../../../src/storage/EventStore.ts"
import { PostgresStore } from "../../../src/storage/postgres/PostgresEventStore.ts"
import { makeEvent, newKey, T0 } from "../../support/nostr.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../../support/postgres.ts"

const db = usePostgresDatabase()

const tricky = 'say "hi" \\ \n\t\u0001\u001f é 中文 😀 \u2028 </script>'

describe("postgres store: stored event text", () => {
  it.live("the event_json column holds eventJson of every stored event, byte for byte", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const k = newKey()
      const events = [
        makeEvent({ created_at: T0, content: tricky, tags: [["p", k.pk], ["t", tricky]] }, k),
        makeEvent({ kind: 0, created_at: T0 + 1, content: '{"name":"ü"}' }, k),
        makeEvent({ kind: 30023, created_at: T0 + 2, tags: [["d", "é/x"], ["title", "a\"b"]] }, k)
      ]
      for (const e of events) yield* store.put(e)
      const rows = (yield* pg.readRaw(`SELECT event_json FROM events ORDER BY created_at`)) as ReadonlyArray<{ event_json: string }>
      expect(rows.map((r) => r.event_json)).toEqual(events.map(eventJson))
    }).pipe(Effect.provide(postgresStoreLayer(db))))

  it.live("rows without the text (stored before migration 0006) are served from their columns", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const pg = yield* PostgresStore
      const k = newKey()
      const old = makeEvent({ created_at: T0 + 1, content: tricky, tags: [["p", k.pk]] }, k)
      const fresh = makeEvent({ created_at: T0 + 2, tags: [["p", k.pk]] }, k)
      yield* store.put(old)
      yield* store.put(fresh)
      yield* pg.admin.unsafe(`UPDATE events SET event_json = NULL WHERE id = decode($1, 'hex')`, [old.id])
      for (const filters of [[{ authors: [k.pk], limit: 10 }], [{ tags: { p: [k.pk] }, limit: 10 }], [{ ids: [old.id, fresh.id] }]]) {
        const served = yield* queryServed(store, filters)
        expect(served.map((s) => s.id)).toEqual([fresh.id, old.id])
        expect(served.map((s) => s.json)).toEqual([eventJson(fresh), eventJson(old)])
        const parsed = JSON.parse(served[1]!.json) as NostrEvent
        expect(parsed).toEqual(old)
        expect(computeEventId(parsed)).toBe(old.id)
      }
      expect(yield* store.query([{ ids: [old.id] }])).toEqual([old])
    }).pipe(Effect.provide(postgresStoreLayer(db))))
})
