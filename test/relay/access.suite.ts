/**
 * Access control end to end over raw frames (NIP-42 AUTH, authRequired,
 * NIP-70, private kinds, NIP-13, moderation from static configuration), run
 * against every store adapter (access.memory.test.ts, postgres/access.postgres.test.ts).
 */
import { finalizeEvent } from "nostr-tools/pure"
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { powDifficulty } from "../../src/nostr/index.ts"
import { idsOf, makeEvent, newKey, type Key } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { forSub, isOk, nextEvent, now, publish, publishOk, req, reqClosed, type RawClient } from "../support/ws.ts"

export const accessSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`access control end to end (${name} store)`, () => {
    const { start: startWith, open } = useRelays(start)

    /** The challenge the relay sent on connect. */
    const challengeOf = async (c: RawClient) => (await c.next((f) => f[0] === "AUTH"))[1] as string

    const authEvent = (key: Key, relayUrl: string, challenge: string, over: { kind?: number; created_at?: number } = {}) =>
      makeEvent({ kind: over.kind ?? 22242, created_at: over.created_at ?? now(), tags: [["relay", relayUrl], ["challenge", challenge]], content: "" }, key)

    /** Sends AUTH and resolves with its OK: [accepted, message]. */
    const auth = async (c: RawClient, e: NostrEvent) => {
      c.send(["AUTH", e])
      const f = await c.next(isOk(e.id))
      return { accepted: f[2] as boolean, message: f[3] as string }
    }
    const authAs = async (c: RawClient, relay: TestRelay, key: Key) => {
      const r = await auth(c, authEvent(key, relay.url, await challengeOf(c)))
      expect(r).toEqual({ accepted: true, message: "" })
    }

    describe("NIP-42 AUTH", () => {
      let relay: TestRelay
      it("sends a challenge on connect and accepts a valid AUTH, for several pubkeys", async () => {
        relay = await startWith()
        const c = await open(relay)
        const challenge = await challengeOf(c)
        expect(challenge).toMatch(/^[0-9a-f]{32}$/)
        const a = newKey()
        const b = newKey()
        expect(await auth(c, authEvent(a, relay.url, challenge))).toEqual({ accepted: true, message: "" })
        expect(await auth(c, authEvent(b, relay.url + "/", challenge))).toEqual({ accepted: true, message: "" })
        // Each connection has its own challenge.
        const other = await open(relay)
        expect(await challengeOf(other)).not.toBe(challenge)
      })

      it("refuses a wrong kind, relay, challenge, time or signature, and a malformed AUTH", async () => {
        relay ??= await startWith()
        const c = await open(relay)
        const challenge = await challengeOf(c)
        const key = newKey()
        const cases: Array<[NostrEvent, RegExp]> = [
          [authEvent(key, relay.url, challenge, { kind: 1 }), /^invalid: .*kind 22242/],
          [authEvent(key, "ws://elsewhere.example.com/", challenge), /^invalid: .*relay tag/],
          [authEvent(key, relay.url.replace("ws://", "wss://") + "/other", challenge), /^invalid: .*relay tag/],
          [authEvent(key, relay.url, "not-the-challenge"), /^invalid: .*challenge/],
          [authEvent(key, relay.url, challenge, { created_at: now() - 700 }), /^invalid: .*created_at/],
          [authEvent(key, relay.url, challenge, { created_at: now() + 700 }), /^invalid: .*created_at/],
          [{ ...authEvent(key, relay.url, challenge), sig: "0".repeat(128) }, /^invalid: .*signature/],
          [{ ...authEvent(key, relay.url, challenge), content: "changed" }, /^invalid: .*id/]
        ]
        for (const [e, reason] of cases) {
          const r = await auth(c, e)
          expect(r.accepted, JSON.stringify(e.tags)).toBe(false)
          expect(r.message).toMatch(reason)
        }
        c.send(["AUTH", "not an event"])
        expect((await c.next((f) => f[0] === "NOTICE"))[1]).toMatch(/^invalid: /)
        // None of them authenticated anything: a protected event is still refused with auth-required.
        const e = makeEvent({ tags: [["-"]], created_at: now() }, key)
        expect((await publish(c, e)).message).toMatch(/^auth-required: /)
      })

      it("never stores or broadcasts kind 22242 sent as an EVENT", async () => {
        relay ??= await startWith()
        const c = await open(relay)
        const e = authEvent(newKey(), relay.url, await challengeOf(c))
        const r = await publish(c, e)
        expect(r.accepted).toBe(false)
        expect(r.message).toMatch(/^invalid: /)
        expect((await req(c, "s", { ids: [e.id] })).events).toEqual([])
      })
    })

    describe("authRequired", () => {
      it("writes: EVENT before AUTH gets auth-required, after AUTH it is stored", async () => {
        const relay = await startWith({ authRequired: "writes" })
        const c = await open(relay)
        const key = newKey()
        const e = makeEvent({ created_at: now() }, key)
        const first = await publish(c, e)
        expect(first.accepted).toBe(false)
        expect(first.message).toMatch(/^auth-required: /)
        // Reads stay open.
        expect((await req(c, "r", { kinds: [1], limit: 1 })).end.type).toBe("EOSE")
        await authAs(c, relay, key)
        await publishOk(c, e)
        expect(idsOf((await req(c, "r2", { ids: [e.id] })).events)).toEqual([e.id])
      })

      it("reads: REQ and COUNT before AUTH get CLOSED auth-required, after AUTH they are served", async () => {
        const relay = await startWith({ authRequired: "reads" })
        const c = await open(relay)
        const e = makeEvent({ created_at: now() })
        await publishOk(c, e)
        expect(await reqClosed(c, "r", { ids: [e.id] })).toMatch(/^auth-required: /)
        c.send(["COUNT", "c", { ids: [e.id] }])
        expect((await c.next(forSub("c", "CLOSED")))[2]).toMatch(/^auth-required: /)
        await authAs(c, relay, newKey())
        expect(idsOf((await req(c, "r", { ids: [e.id] })).events)).toEqual([e.id])
        c.send(["COUNT", "c2", { ids: [e.id] }])
        expect((await c.next(forSub("c2", "COUNT")))[2]).toEqual({ count: 1 })
      })

      it("all: both need AUTH", async () => {
        const relay = await startWith({ authRequired: "all" })
        const c = await open(relay)
        const key = newKey()
        const e = makeEvent({ created_at: now() }, key)
        expect((await publish(c, e)).message).toMatch(/^auth-required: /)
        expect(await reqClosed(c, "r", { kinds: [1] })).toMatch(/^auth-required: /)
        await authAs(c, relay, key)
        await publishOk(c, e)
        expect(idsOf((await req(c, "r", { ids: [e.id] })).events)).toEqual([e.id])
      })
    })

    describe("NIP-70 protected events", () => {
      it("are accepted only from a connection authenticated as their author", async () => {
        const relay = await startWith()
        const author = newKey()
        const e = makeEvent({ tags: [["-"]], created_at: now() }, author)
        const c = await open(relay)
        expect((await publish(c, e)).message).toMatch(/^auth-required: /)
        await authAs(c, relay, newKey())
        expect((await publish(c, e)).message).toMatch(/^restricted: /)
        const d = await open(relay)
        await authAs(d, relay, author)
        await publishOk(d, e)
        // Served to anyone like any event.
        const reader = await open(relay)
        expect(idsOf((await req(reader, "r", { ids: [e.id] })).events)).toEqual([e.id])
      })
    })

    describe("private kinds (restrictedReadKinds)", () => {
      let relay: TestRelay
      const alice = newKey()
      const bob = newKey()
      const carol = newKey()
      let dm: NostrEvent
      let wrap: NostrEvent
      let note: NostrEvent

      it("a REQ naming a private kind without AUTH gets CLOSED auth-required; recipients and authors see them after AUTH, others do not", async () => {
        relay = await startWith()
        const w = await open(relay)
        // A time of their own, so the time-range filters below see only these (the stores are shared between tests).
        const base = 1_600_000_000 + Math.floor(Math.random() * 1_000_000) * 10
        dm = makeEvent({ kind: 4, tags: [["p", bob.pk]], created_at: base }, alice)
        wrap = makeEvent({ kind: 1059, tags: [["p", bob.pk]], created_at: base + 1 }) // a one-time key
        note = makeEvent({ kind: 1, created_at: base + 2 }, alice)
        for (const e of [dm, wrap, note]) await publishOk(w, e)

        const anon = await open(relay)
        expect(await reqClosed(anon, "dm", { kinds: [4] })).toMatch(/^auth-required: /)
        expect(await reqClosed(anon, "gw", { kinds: [1059], "#p": [bob.pk] })).toMatch(/^auth-required: /)
        expect(await reqClosed(anon, "mix", { kinds: [1, 4] })).toMatch(/^auth-required: /)

        const asBob = await open(relay)
        await authAs(asBob, relay, bob)
        expect(idsOf((await req(asBob, "in", { kinds: [4, 1059] })).events)).toEqual([wrap.id, dm.id])
        const asAlice = await open(relay)
        await authAs(asAlice, relay, alice)
        expect(idsOf((await req(asAlice, "out", { kinds: [4] })).events)).toEqual([dm.id])
        expect(idsOf((await req(asAlice, "gw", { kinds: [1059] })).events)).toEqual([])
        const asCarol = await open(relay)
        await authAs(asCarol, relay, carol)
        expect(idsOf((await req(asCarol, "x", { kinds: [4, 1059] })).events)).toEqual([])
        expect(idsOf((await req(asCarol, "x2", { kinds: [4], "#p": [bob.pk] })).events)).toEqual([])
      })

      it("filters that do not name a kind never reach them: by id, by author, by tag, by time range; COUNT too", async () => {
        const anon = await open(relay)
        expect(idsOf((await req(anon, "ids", { ids: [dm.id, wrap.id, note.id] })).events)).toEqual([note.id])
        expect(idsOf((await req(anon, "auth", { authors: [alice.pk] })).events)).toEqual([note.id])
        expect(idsOf((await req(anon, "p", { "#p": [bob.pk] })).events)).toEqual([])
        expect(idsOf((await req(anon, "t", { since: dm.created_at, until: note.created_at })).events)).toEqual([note.id])
        anon.send(["COUNT", "c", { since: dm.created_at, until: note.created_at }])
        expect((await anon.next(forSub("c", "COUNT")))[2]).toEqual({ count: 1 })
        anon.send(["COUNT", "c2", { kinds: [1059] }])
        expect((await anon.next(forSub("c2", "CLOSED")))[2]).toMatch(/^auth-required: /)

        const asCarol = await open(relay)
        await authAs(asCarol, relay, carol)
        expect(idsOf((await req(asCarol, "ids", { ids: [dm.id, wrap.id] })).events)).toEqual([])
        asCarol.send(["COUNT", "c", { kinds: [4, 1059] }])
        expect((await asCarol.next(forSub("c", "COUNT")))[2]).toEqual({ count: 0 })

        const asBob = await open(relay)
        await authAs(asBob, relay, bob)
        expect(idsOf((await req(asBob, "ids", { ids: [dm.id, wrap.id, note.id] })).events)).toEqual([note.id, wrap.id, dm.id])
        asBob.send(["COUNT", "c", { since: dm.created_at, until: note.created_at }])
        expect((await asBob.next(forSub("c", "COUNT")))[2]).toEqual({ count: 3 })
      })

      it("a filter's limit holds across the parts it is split into", async () => {
        const asBob = await open(relay)
        await authAs(asBob, relay, bob)
        expect(idsOf((await req(asBob, "l", { since: dm.created_at, until: note.created_at, limit: 2 })).events)).toEqual([note.id, wrap.id])
      })

      it("a DM p-tagging both a pubkey the filter asks for and the recipient reaches the recipient, stored and live", async () => {
        const dave = newKey()
        const w = await open(relay)
        const both = makeEvent({ kind: 4, tags: [["p", dave.pk], ["p", bob.pk]], created_at: dm.created_at + 3 }, alice)
        await publishOk(w, both)
        const asBob = await open(relay)
        await authAs(asBob, relay, bob)
        expect(idsOf((await req(asBob, "d", { kinds: [4], "#p": [dave.pk] })).events)).toEqual([both.id])
        const asCarol = await open(relay)
        await authAs(asCarol, relay, carol)
        expect(idsOf((await req(asCarol, "d", { kinds: [4], "#p": [dave.pk] })).events)).toEqual([])
        await req(asBob, "live", { kinds: [4], "#p": [dave.pk], since: now() - 60 })
        const liveBoth = makeEvent({ kind: 4, tags: [["p", dave.pk], ["p", bob.pk]], created_at: now() }, alice)
        await publishOk(w, liveBoth)
        expect((await nextEvent(asBob, "live")).id).toBe(liveBoth.id)
      })

      it("live events of private kinds go only to their author and recipients", async () => {
        const anon = await open(relay)
        await req(anon, "all", {})
        const asCarol = await open(relay)
        await authAs(asCarol, relay, carol)
        await req(asCarol, "all", {})
        const asBob = await open(relay)
        await authAs(asBob, relay, bob)
        await req(asBob, "gw", { kinds: [1059] })

        const w = await open(relay)
        const liveWrap = makeEvent({ kind: 1059, tags: [["p", bob.pk]], created_at: now() })
        await publishOk(w, liveWrap)
        expect((await nextEvent(asBob, "gw")).id).toBe(liveWrap.id)
        // A public sentinel: whatever the others received before it is all they got.
        const sentinel = makeEvent({ created_at: now() })
        await publishOk(w, sentinel)
        expect((await nextEvent(anon, "all")).id).toBe(sentinel.id)
        expect((await nextEvent(asCarol, "all")).id).toBe(sentinel.id)
      })
    })

    describe("NIP-13 proof of work", () => {
      /** Mines an event to at least `bits` leading zero bits, committing to `target`. */
      const mine = (bits: number, target: number, key: Key) => {
        for (let nonce = 0; ; nonce++) {
          const e = finalizeEvent({ kind: 1, created_at: now(), tags: [["nonce", String(nonce), String(target)]], content: "mined" }, key.sk)
          if (powDifficulty(e.id) >= bits) return e as NostrEvent
        }
      }

      it("refuses too little work and a committed target below the minimum, accepts enough", async () => {
        const relay = await startWith({ minPowDifficulty: 8 })
        const c = await open(relay)
        const key = newKey()
        let weak = makeEvent({ created_at: now() }, key)
        while (powDifficulty(weak.id) >= 8) weak = makeEvent({ created_at: now() }, key)
        expect((await publish(c, weak)).message).toMatch(/^pow: difficulty \d+ is less than 8/)
        const lucky = mine(8, 4, key)
        expect((await publish(c, lucky)).message).toMatch(/^pow: committed target difficulty 4 is less than 8/)
        await publishOk(c, mine(8, 8, key))
        const nip11 = (await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { limitation: { min_pow_difficulty: number }; supported_nips: Array<number> }
        expect(nip11.limitation.min_pow_difficulty).toBe(8)
        expect(nip11.supported_nips).toContain(13)
      })
    })

    describe("moderation from static configuration", () => {
      it("banned pubkeys and events are refused and not served; allowed and disallowed kinds apply", async () => {
        const banned = newKey()
        const seen = makeEvent({ created_at: now() - 10 })
        const relay = await startWith({ bannedPubkeys: [banned.pk], disallowedKinds: [7] })
        const c = await open(relay)
        expect((await publish(c, makeEvent({ created_at: now() }, banned))).message).toMatch(/^blocked: /)
        expect((await publish(c, makeEvent({ kind: 7, created_at: now() }))).message).toMatch(/^blocked: .*kind 7/)
        await publishOk(c, seen)
        const relay2 = await startWith({ bannedEvents: [seen.id], allowedKinds: [1, 3] })
        const d = await open(relay2)
        expect((await publish(d, seen)).message).toMatch(/^blocked: /)
        expect((await publish(d, makeEvent({ kind: 0, created_at: now() }))).message).toMatch(/^blocked: .*kind 0/)
        await publishOk(d, makeEvent({ kind: 3, created_at: now() }))
      })

      it("allow-list mode: only allowed authors write; with allowListReads readers must AUTH as one", async () => {
        const member = newKey()
        const relay = await startWith({ allowedPubkeys: [member.pk], allowListReads: true })
        const c = await open(relay)
        expect((await publish(c, makeEvent({ created_at: now() }))).message).toMatch(/^restricted: /)
        const e = makeEvent({ created_at: now() }, member)
        await publishOk(c, e)
        expect(await reqClosed(c, "r", { ids: [e.id] })).toMatch(/^auth-required: /)
        await authAs(c, relay, newKey())
        expect(await reqClosed(c, "r", { ids: [e.id] })).toMatch(/^restricted: /)
        const m = await open(relay)
        await authAs(m, relay, member)
        expect(idsOf((await req(m, "r", { ids: [e.id] })).events)).toEqual([e.id])
      })
    })

    describe("NIP-11 reflects the configuration", () => {
      it("advertises 42 and 70, and auth_required / restricted_writes as configured", async () => {
        const open_ = await startWith()
        const doc = async (r: TestRelay) => (await (await fetch(r.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { supported_nips: Array<number>; limitation: Record<string, unknown> }
        const a = await doc(open_)
        expect(a.supported_nips).toEqual(expect.arrayContaining([42, 70]))
        expect(a.supported_nips).not.toContain(13)
        expect(a.limitation).toMatchObject({ auth_required: false, restricted_writes: false, min_pow_difficulty: 0 })
        const closed = await startWith({ authRequired: "all", allowedPubkeys: [newKey().pk] })
        expect((await doc(closed)).limitation).toMatchObject({ auth_required: true, restricted_writes: true })
      })
    })
  })
