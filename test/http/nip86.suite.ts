/**
 * NIP-86 management over real HTTP, authorized by NIP-98, with its effects on
 * open WebSocket connections; one suite run on every store
 * (nip86.memory.test.ts, postgres/nip86.postgres.test.ts).
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { idsOf, makeEvent, newKey } from "../support/nostr.ts"
import { rpc } from "../support/nip98.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { connect, now, publish, publishOk, req } from "../support/ws.ts"

export const nip86Suite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-86 management API (${name} store)`, () => {
    const admin = newKey()
    const relays = useRelays(start)
    const startWith = (o: Partial<Settings> = {}) => relays.start({ adminPubkeys: [admin.pk], ...o })
    const open = relays.open
    const nip11 = async (r: TestRelay) =>
      (await (await fetch(r.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as {
        name: string
        description: string
        icon?: string
        supported_nips: Array<number>
        limitation: { restricted_writes: boolean }
      }

    let relay: TestRelay
    const call = (method: string, params: ReadonlyArray<unknown> = []) => rpc(relay.httpUrl, admin, method, params)
    const ok = async (method: string, params: ReadonlyArray<unknown> = []) => {
      const r = await call(method, params)
      expect(r, `${method} ${JSON.stringify(params)}`).toMatchObject({ status: 200 })
      expect(r.body.error, method).toBeUndefined()
      return r.body.result
    }

    it("refuses missing, invalid, replayed and non-admin authorization, oversized and malformed bodies, changing nothing", async () => {
      relay = await startWith()
      const victim = newKey().pk
      const u = relay.httpUrl
      const expectStatus = async (p: Promise<{ status: number; body: { error?: string } }>, status: number, reason: RegExp) => {
        const r = await p
        expect(r.status).toBe(status)
        expect(r.body.error).toMatch(reason)
      }
      await expectStatus(rpc(u, admin, "banpubkey", [victim], { authorization: null }), 401, /missing Authorization/)
      await expectStatus(rpc(u, admin, "banpubkey", [victim], { created_at: now() - 120 }), 401, /created_at/)
      await expectStatus(rpc(u, admin, "banpubkey", [victim], { payloadOf: null }), 401, /payload/)
      await expectStatus(rpc(u, admin, "banpubkey", [victim], { payloadOf: "{}" }), 401, /SHA-256/)
      await expectStatus(rpc(u, admin, "banpubkey", [victim], { url: "http://elsewhere.example.com/" }), 401, /u tag/)
      await expectStatus(rpc(u, admin, "banpubkey", [victim], { method: "GET" }), 401, /method/)
      await expectStatus(rpc(u, newKey(), "banpubkey", [victim]), 403, /not an administrator/)
      // A replayed authorization: the same header twice.
      const body = JSON.stringify({ method: "banpubkey", params: [victim] })
      const { authHeader } = await import("../support/nip98.ts")
      const once = authHeader(admin, u, body)
      const first = await rpc(u, admin, "x", [], { rawBody: JSON.stringify({ method: "supportedmethods", params: [] }), authorization: authHeader(admin, u, JSON.stringify({ method: "supportedmethods", params: [] })) })
      expect(first.status).toBe(200)
      const replayedOnce = await rpc(u, admin, "x", [], { rawBody: body, authorization: once })
      expect(replayedOnce.status).toBe(200) // first use
      await expectStatus(rpc(u, admin, "x", [], { rawBody: body, authorization: once }), 401, /already used/)
      expect(await ok("unbanpubkey", [victim])).toBe(true)
      // Bodies.
      await expectStatus(rpc(u, admin, "x", [], { rawBody: "x".repeat(70 * 1024) }), 413, /larger than/)
      await expectStatus(rpc(u, admin, "x", [], { rawBody: "{not json" }), 400, /not JSON/)
      await expectStatus(rpc(u, admin, "x", [], { rawBody: JSON.stringify({ method: 5 }) }), 400, /method/)
      await expectStatus(rpc(u, admin, "x", [], { rawBody: JSON.stringify({ method: "banpubkey", params: "x" }) }), 400, /params/)
      // Unknown methods and bad params: an error result.
      const unknown = await call("createrole", [])
      expect(unknown).toMatchObject({ status: 200, body: { result: null, error: expect.stringMatching(/unsupported method/) } })
      for (const [m, p] of [["banpubkey", ["nothex"]], ["banevent", []], ["allowkind", [70000]], ["allowkind", ["x"]], ["blockip", ["999.1.1.1"]], ["changerelayname", [5]], ["changerelayicon", ["javascript:alert(1)"]]] as const) {
        const r = await call(m, p)
        expect(r.status, m).toBe(200)
        expect(r.body.error, `${m} ${JSON.stringify(p)}`).toMatch(/params|must|icon/)
      }
      expect(await ok("listbannedpubkeys")).toEqual([])
      expect(await ok("listallowedkinds")).toEqual([])
      expect(await ok("listblockedips")).toEqual([])
    })

    it("lists its methods and advertises NIP-86 only when enabled", async () => {
      relay ??= await startWith()
      const methods = (await ok("supportedmethods")) as Array<string>
      for (const m of ["supportedmethods", "banpubkey", "unbanpubkey", "listbannedpubkeys", "allowpubkey", "unallowpubkey", "listallowedpubkeys",
        "banevent", "allowevent", "listbannedevents", "listeventsneedingmoderation", "changerelayname", "changerelaydescription",
        "changerelayicon", "allowkind", "disallowkind", "listallowedkinds", "blockip", "unblockip", "listblockedips"]) expect(methods).toContain(m)
      expect((await nip11(relay)).supported_nips).toContain(86)
      const off = await relays.start({})
      expect((await nip11(off)).supported_nips).not.toContain(86)
      expect((await rpc(off.httpUrl, admin, "supportedmethods")).status).toBe(403)
    })

    it("bans and unbans pubkeys and events, effective at once on open connections", async () => {
      relay ??= await startWith()
      const spammer = newKey()
      const reader = await open(relay)
      const writer = await open(relay)
      const old = makeEvent({ created_at: now() - 5 }, spammer)
      await publishOk(writer, old)
      expect(await ok("banpubkey", [spammer.pk, "spam"])).toBe(true)
      expect(await ok("listbannedpubkeys")).toEqual([{ pubkey: spammer.pk, reason: "spam" }])
      expect((await publish(writer, makeEvent({ created_at: now() }, spammer))).message).toMatch(/^blocked: /)
      expect((await req(reader, "r", { authors: [spammer.pk] })).events).toEqual([])
      expect(await ok("unbanpubkey", [spammer.pk])).toBe(true)
      expect(idsOf((await req(reader, "r2", { authors: [spammer.pk] })).events)).toEqual([old.id])

      const bad = makeEvent({ created_at: now() - 4 })
      await publishOk(writer, bad)
      expect(await ok("banevent", [bad.id, "illegal"])).toBe(true)
      expect(await ok("listbannedevents")).toEqual([{ id: bad.id, reason: "illegal" }])
      expect((await req(reader, "e", { ids: [bad.id] })).events).toEqual([])
      expect((await publish(writer, bad)).message).toMatch(/^blocked: /)
      expect(await ok("allowevent", [bad.id])).toBe(true)
      expect(await ok("listbannedevents")).toEqual([])
      expect(idsOf((await req(reader, "e2", { ids: [bad.id] })).events)).toEqual([bad.id])
    })

    it("lists reported events needing moderation until they are banned or allowed", async () => {
      relay ??= await startWith()
      const c = await open(relay)
      const target = makeEvent({ created_at: now() - 3 })
      const other = makeEvent({ created_at: now() - 3 })
      await publishOk(c, target)
      await publishOk(c, other)
      await publishOk(c, makeEvent({ kind: 1984, created_at: now(), tags: [["e", target.id, "spam"], ["p", target.pubkey]] }))
      await publishOk(c, makeEvent({ kind: 1984, created_at: now(), tags: [["e", other.id]], content: "rude" }))
      const pending = (await ok("listeventsneedingmoderation")) as Array<{ id: string; reason: string }>
      expect(pending).toEqual(expect.arrayContaining([{ id: target.id, reason: "spam" }, { id: other.id, reason: "rude" }]))
      await ok("banevent", [target.id])
      await ok("allowevent", [other.id])
      const after = (await ok("listeventsneedingmoderation")) as Array<{ id: string }>
      expect(after.map((e) => e.id)).not.toContain(target.id)
      expect(after.map((e) => e.id)).not.toContain(other.id)
    })

    it("allow-list mode and kinds", async () => {
      relay ??= await startWith()
      const member = newKey()
      const c = await open(relay)
      expect(await ok("allowpubkey", [member.pk, "paid"])).toBe(true)
      expect(await ok("listallowedpubkeys")).toEqual([{ pubkey: member.pk, reason: "paid" }])
      expect((await nip11(relay)).limitation.restricted_writes).toBe(true)
      expect((await publish(c, makeEvent({ created_at: now() }))).message).toMatch(/^restricted: /)
      await publishOk(c, makeEvent({ created_at: now() }, member))
      expect(await ok("unallowpubkey", [member.pk])).toBe(true)
      await publishOk(c, makeEvent({ created_at: now() }))

      // A block, lifted again.
      expect(await ok("disallowkind", [7])).toBe(true)
      expect((await publish(c, makeEvent({ kind: 7, created_at: now() }))).message).toMatch(/^blocked: /)
      expect(await ok("allowkind", [7])).toBe(true)
      await publishOk(c, makeEvent({ kind: 7, created_at: now() }))
      expect(await ok("listallowedkinds")).toEqual([])
      // An allowed list: only its kinds.
      expect(await ok("allowkind", [1])).toBe(true)
      expect(await ok("allowkind", ["3"])).toBe(true)
      expect(await ok("listallowedkinds")).toEqual([1, 3])
      expect((await publish(c, makeEvent({ kind: 0, created_at: now() }))).message).toMatch(/^blocked: /)
      await publishOk(c, makeEvent({ kind: 3, created_at: now() }))
      expect(await ok("disallowkind", [3])).toBe(true)
      expect(await ok("listallowedkinds")).toEqual([1])
      expect((await publish(c, makeEvent({ kind: 3, created_at: now() }))).message).toMatch(/^blocked: /)
      // Taking the last allowed kind off leaves it blocked rather than opening the relay to it.
      expect(await ok("disallowkind", [1])).toBe(true)
      expect(await ok("listallowedkinds")).toEqual([])
      expect((await publish(c, makeEvent({ kind: 1, created_at: now() }))).message).toMatch(/^blocked: /)
      await publishOk(c, makeEvent({ kind: 3, created_at: now() }))
      expect(await ok("allowkind", [1])).toBe(true)
      await publishOk(c, makeEvent({ kind: 1, created_at: now() }))
      expect(await ok("listallowedkinds")).toEqual([])
    })

    it("blocks an IP: open connections from it are closed and new upgrades refused until unblocked", async () => {
      const r = await startWith()
      relay = r
      const c = await open(r)
      expect(await ok("blockip", ["127.0.0.0/8", "abuse"])).toBe(true)
      expect(await ok("listblockedips")).toEqual([{ ip: "127.0.0.0/8", reason: "abuse" }])
      const closed = await c.closed
      expect(closed.code).toBe(1008)
      await expect(connect(r.url)).rejects.toThrow(/HTTP 403/)
      expect(await ok("unblockip", ["127.0.0.0/8"])).toBe(true)
      const again = await open(r)
      expect(again.ws.readyState).toBe(again.ws.OPEN)
    })

    it("changes name, description and icon in NIP-11 at once", async () => {
      relay ??= await startWith()
      expect(await ok("changerelayname", ["Renamed"])).toBe(true)
      expect(await ok("changerelaydescription", ["A new description"])).toBe(true)
      expect(await ok("changerelayicon", ["https://example.com/icon.png"])).toBe(true)
      expect(await nip11(relay)).toMatchObject({ name: "Renamed", description: "A new description", icon: "https://example.com/icon.png" })
    })
  })
