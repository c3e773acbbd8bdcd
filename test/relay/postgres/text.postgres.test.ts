/**
 * Client mistakes that PostgreSQL cannot take as they are get a client-side
 * answer, never `error:` (which tells clients the relay is failing): an event
 * whose text holds NUL is `invalid:`, a filter value holding NUL matches
 * nothing, and `since`/`until` beyond any timestamp mean "no bound".
 */
import { describe, expect, it } from "vitest"
import { storeFromConfig } from "../../../src/storage/layer.ts"
import { makeEvent, newKey } from "../../support/nostr.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { connect, now, publish, publishOk, req } from "../../support/ws.ts"

const db = usePostgresDatabase()

describe("text PostgreSQL cannot hold (postgres store)", () => {
  it("answers with client-side prefixes, not error:", async () => {
    const relay = await startRelay({ store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig })
    try {
      const c = await connect(relay.url)
      const k = newKey()
      const nul = makeEvent({ content: "nul\u0000inside" }, k)
      expect(await publish(c, nul)).toEqual({ accepted: false, message: expect.stringMatching(/^invalid: this relay cannot store this event: .*NUL/) })
      const tagged = makeEvent({ created_at: now(), tags: [["t", "plain"]] }, k)
      await publishOk(c, tagged)
      const byNulTag = await req(c, "nul-tag", { "#t": ["a\u0000b"] })
      expect(byNulTag.end).toEqual({ type: "EOSE" })
      expect(byNulTag.events).toEqual([])
      // Among other values, a NUL value just matches nothing.
      expect((await req(c, "mixed", { "#t": ["a\u0000b", "plain"] })).events.map((e) => e.id)).toEqual([tagged.id])
      const huge = await req(c, "huge", { authors: [k.pk], since: 0, until: 1e300 })
      expect(huge.end).toEqual({ type: "EOSE" })
      expect(huge.events.map((e) => e.id)).toEqual([tagged.id])
      expect((await req(c, "huge-since", { authors: [k.pk], since: 2 ** 70 })).end).toEqual({ type: "EOSE" })
      expect((await req(c, "nul-search", { search: "plain\u0000text" })).end).not.toMatchObject({ message: expect.stringMatching(/^error:/) })
      await c.close()
    } finally {
      await relay.close()
    }
  })
})
