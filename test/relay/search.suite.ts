/**
 * NIP-50 search end to end: words ANDed with every other filter field,
 * relevance order with the limit after ranking, extensions, live matching,
 * hostile strings; one suite for every store.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { idsOf, makeEvent, newKey } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { forSub, nextEvent, now, publishOk, req, reqClosed, type RawClient } from "../support/ws.ts"

export const searchSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-50 search (${name} store)`, () => {
    const relays = useRelays(start)
    let relay: TestRelay
    const client = async () => {
      relay ??= await relays.start()
      return relays.open(relay)
    }
    /** A word no other test uses, so results are this test's own. */
    const unique = () => `w${Math.random().toString(36).slice(2, 10)}`
    const search = async (c: RawClient, filter: Record<string, unknown>) => idsOf((await req(c, `s${Math.random()}`, filter)).events)

    it("matches all words, whole words, any case, in any language", async () => {
      const c = await client()
      const u = unique()
      const t = now() - 100
      const a = makeEvent({ created_at: t, content: `Hello world ${u}` })
      const b = makeEvent({ created_at: t + 1, content: `hello NOSTR ${u}!` })
      const g = makeEvent({ created_at: t + 2, content: `goodbye, world. ${u}` })
      const j = makeEvent({ created_at: t + 3, content: `Grüße aus Köln ${u} 日本語` })
      for (const e of [a, b, g, j]) await publishOk(c, e)
      expect((await search(c, { search: `hello ${u}` })).sort()).toEqual([a.id, b.id].sort())
      expect(await search(c, { search: `HELLO world ${u}` })).toEqual([a.id])
      expect(await search(c, { search: `hell ${u}` })).toEqual([])
      expect(await search(c, { search: `grüße köln ${u}` })).toEqual([j.id])
      expect(await search(c, { search: `日本語 ${u}` })).toEqual([j.id])
    })

    it("ANDs search with kinds, authors, tags and time", async () => {
      const c = await client()
      const u = unique()
      const k = newKey()
      const t = now() - 100
      const mine = makeEvent({ created_at: t, content: `relay ${u}`, tags: [["t", "x"]] }, k)
      const reaction = makeEvent({ kind: 7, created_at: t, content: `relay ${u}` }, k)
      const other = makeEvent({ created_at: t + 5, content: `relay ${u}` })
      for (const e of [mine, reaction, other]) await publishOk(c, e)
      expect(await search(c, { search: u, kinds: [1], authors: [k.pk] })).toEqual([mine.id])
      expect(await search(c, { search: u, "#t": ["x"] })).toEqual([mine.id])
      expect(await search(c, { search: u, kinds: [7] })).toEqual([reaction.id])
      expect(await search(c, { search: u, since: t + 1 })).toEqual([other.id])
      expect((await search(c, { search: u, until: t })).sort()).toEqual([mine.id, reaction.id].sort())
    })

    it("orders by relevance, the limit applied after ranking", async () => {
      const c = await client()
      const u = unique()
      const t = now() - 100
      const rich = makeEvent({ created_at: t, content: `${u} ${u} ${u} about relays, ${u}` })
      const poor = makeEvent({ created_at: t + 10, content: `a note that mentions ${u} once among many other words here` })
      await publishOk(c, rich)
      await publishOk(c, poor)
      expect(await search(c, { search: u })).toEqual([rich.id, poor.id])
      expect(await search(c, { search: u, limit: 1 })).toEqual([rich.id])
    })

    it("ignores key:value extensions except domain:, which keeps authors whose NIP-05 is at that domain", async () => {
      const c = await client()
      const u = unique()
      const bob = newKey()
      const eve = newKey()
      await publishOk(c, makeEvent({ kind: 0, created_at: now() - 50, content: JSON.stringify({ name: "bob", nip05: "bob@Example.COM" }) }, bob))
      await publishOk(c, makeEvent({ kind: 0, created_at: now() - 50, content: JSON.stringify({ name: "eve", nip05: "eve@example.org" }) }, eve))
      const fromBob = makeEvent({ created_at: now() - 10, content: `news ${u}` }, bob)
      const fromEve = makeEvent({ created_at: now() - 9, content: `news ${u}` }, eve)
      await publishOk(c, fromBob)
      await publishOk(c, fromEve)
      expect((await search(c, { search: `news ${u} include:spam lang:en` })).sort()).toEqual([fromBob.id, fromEve.id].sort())
      expect(await search(c, { search: `news ${u} domain:example.com` })).toEqual([fromBob.id])
      expect(await search(c, { search: `news ${u} domain:example.com`, authors: [eve.pk] })).toEqual([])
      expect(await search(c, { search: `news ${u} domain:nowhere.example` })).toEqual([])
    })

    it("matches live events too", async () => {
      const c = await client()
      const u = unique()
      const sub = await client()
      await req(sub, "live", { search: `breaking ${u}` })
      const miss = makeEvent({ created_at: now(), content: `quiet day ${u}` })
      const hit = makeEvent({ created_at: now(), content: `Breaking: news ${u}` })
      await publishOk(c, miss)
      await publishOk(c, hit)
      expect((await nextEvent(sub, "live")).id).toBe(hit.id)
    })

    it("treats SQL, regex and full-text operators as plain words, and refuses oversized searches", async () => {
      const c = await client()
      const u = unique()
      const e = makeEvent({ created_at: now(), content: `drop table events ${u}` })
      await publishOk(c, e)
      for (const hostile of [`'; DROP TABLE events; -- ${u}`, `${u} & !events | table <-> drop`, `.* ${u} (a|b)+ \\`, `${u}:* ''`]) {
        const r = await req(c, `h${Math.random()}`, { search: hostile })
        expect(r.end.type, hostile).toBe("EOSE")
      }
      expect(await search(c, { search: `drop & table ${u}` })).toEqual([e.id])
      expect(await reqClosed(c, "many", { search: Array.from({ length: 2000 }, (_, i) => `w${i}`).join(" ").slice(0, 990) })).toMatch(/^invalid: .*words/)
      expect(await reqClosed(c, "long", { search: "x".repeat(1001) })).toMatch(/^invalid: .*longer/)
      expect(await reqClosed(c, "type", { search: 5 })).toMatch(/^invalid: /)
      // The store is intact.
      expect(await search(c, { search: u })).toEqual([e.id])
      const n = await (async () => {
        c.send(["COUNT", "n", { search: u }])
        return (await c.next(forSub("n", "COUNT")))[2]
      })()
      expect(n).toMatchObject({ count: 1 })
    })

    it("is advertised, and refused as unsupported when turned off", async () => {
      const c = await client()
      const doc = (await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { supported_nips: Array<number> }
      expect(doc.supported_nips).toContain(50)
      const off = await relays.start({ search: false })
      const d = await relays.open(off)
      expect(await reqClosed(d, "s", { search: "x" })).toMatch(/^unsupported: /)
      void c
    })
  })
