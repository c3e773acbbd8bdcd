/**
 * NIP-01 (and NIP-45 COUNT, NIP-40 refusals) end to end over raw frames:
 * a real relay on a real socket, every rule checked so that breaking it
 * fails a test. One suite, run against every store adapter
 * (nip01.memory.test.ts, nip01.postgres.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { idsOf, makeEvent, newKey, nip01Order, sameSecond, T0, type Key } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import {
  connect,
  forSub,
  isNotice,
  logged,
  nextEvent,
  now,
  publish,
  publishOk,
  req,
  type RawClient
} from "../support/ws.ts"

export const nip01Suite = (name: string, start: () => Promise<TestRelay>) =>
  describe(`NIP-01 end to end (${name} store)`, () => {
  let relay: TestRelay
  const clients: Array<RawClient> = []
  /** A connected client whose NIP-42 challenge (the relay's first frame) is already read. */
  const open = async () => {
    const c = await connect(relay.url)
    clients.push(c)
    expect((await c.next())[0]).toBe("AUTH")
    return c
  }

  beforeAll(async () => {
    relay = await start()
  }, 60_000)
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
  })
  afterAll(() => relay.close())

  /**
   * Proves nothing else was delivered on `subId` before a sentinel: publishes
   * `sentinel` (which must match) and returns every EVENT the subscription got
   * up to and including it.
   */
  const deliveredUntil = async (pub: RawClient, sub: RawClient, subId: string, sentinel: NostrEvent) => {
    const before = logged(sub, "EVENT", subId).length
    await publishOk(pub, sentinel)
    const got = await nextEvent(sub, subId)
    expect(got.id).toBe(sentinel.id)
    return logged(sub, "EVENT", subId).slice(before).map((f) => (f[2] as NostrEvent).id)
  }

  describe("EVENT and REQ", () => {
    it("answers a valid EVENT with OK true and an empty message", async () => {
      const c = await open()
      const e = makeEvent({ created_at: now() })
      expect(await publish(c, e)).toEqual({ accepted: true, message: "" })
    })

    it("returns stored matches newest first, ties by lowest id, then exactly one EOSE", async () => {
      const c = await open()
      const k = newKey()
      const spread = [T0 + 5, T0 + 1, T0 + 9, T0 + 3].map((t) => makeEvent({ created_at: t }, k))
      const ties = sameSecond({ created_at: T0 + 4 }, k, 4)
      // Publish the tied events highest id first so insertion order cannot pass for id order.
      for (const e of [...spread, ...[...ties].reverse()]) await publishOk(c, e)
      const all = [...spread, ...ties]

      const r = await req(c, "order", { authors: [k.pk] })
      expect(r.end.type).toBe("EOSE")
      expect(idsOf(r.events)).toEqual(idsOf(nip01Order(all)))
      // Exactly one EOSE: a later round trip on the same connection shows no second one.
      await req(c, "later", { ids: [all[0]!.id] })
      expect(logged(c, "EOSE", "order")).toHaveLength(1)
    })

    it("sends EOSE for a REQ with no stored matches", async () => {
      const c = await open()
      const r = await req(c, "none", { authors: [newKey().pk] })
      expect(r).toEqual({ events: [], end: { type: "EOSE" } })
    })

    it("applies limit to the initial query only; live events still arrive after EOSE", async () => {
      const c = await open()
      const k = newKey()
      const stored = [1, 2, 3, 4].map((i) => makeEvent({ created_at: T0 + i }, k))
      for (const e of stored) await publishOk(c, e)
      const r = await req(c, "lim", { authors: [k.pk], limit: 2 })
      expect(idsOf(r.events)).toEqual(idsOf(nip01Order(stored).slice(0, 2)))
      const live = [makeEvent({ created_at: T0 }, k), makeEvent({ created_at: T0 + 100 }, k), makeEvent({ created_at: T0 + 101 }, k)]
      for (const e of live) {
        await publishOk(c, e)
        expect((await nextEvent(c, "lim")).id).toBe(e.id)
      }
    })

    it("treats since and until as inclusive", async () => {
      const c = await open()
      const k = newKey()
      const evs = [-1, 0, 1, 2, 3].map((d) => makeEvent({ created_at: T0 + d }, k))
      for (const e of evs) await publishOk(c, e)
      const r = await req(c, "window", { authors: [k.pk], since: T0, until: T0 + 2 })
      expect(idsOf(r.events)).toEqual(idsOf(nip01Order(evs.slice(1, 4))))
      const exact = await req(c, "exact", { authors: [k.pk], since: T0 + 3, until: T0 + 3 })
      expect(idsOf(exact.events)).toEqual([evs[4]!.id])
    })

    it("ORs filters together without duplicates, newest first", async () => {
      const c = await open()
      const a = newKey()
      const b = newKey()
      const both = makeEvent({ kind: 7, created_at: T0 + 3 }, a) // matches both filters
      const onlyA = makeEvent({ kind: 1, created_at: T0 + 1 }, a)
      const onlyB = makeEvent({ kind: 7, created_at: T0 + 2 }, b)
      const neither = makeEvent({ kind: 1, created_at: T0 + 4 }, b)
      for (const e of [both, onlyA, onlyB, neither]) await publishOk(c, e)
      const r = await req(c, "or", { authors: [a.pk] }, { kinds: [7], authors: [a.pk, b.pk] })
      expect(idsOf(r.events)).toEqual([both.id, onlyB.id, onlyA.id])
    })

    it("answers a duplicate EVENT with OK true and a duplicate: message", async () => {
      const c = await open()
      const e = makeEvent({ created_at: now() })
      await publishOk(c, e)
      const again = await publish(c, e)
      expect(again.accepted).toBe(true)
      expect(again.message).toMatch(/^duplicate: /)
      // And from another connection too (not a per-connection cache).
      const d = await open()
      const third = await publish(d, e)
      expect(third.accepted).toBe(true)
      expect(third.message).toMatch(/^duplicate: /)
    })
  })

  describe("live delivery", () => {
    const subscribeAndCheck = async (filters: ReadonlyArray<unknown>, nonMatching: ReadonlyArray<NostrEvent>, matching: NostrEvent) => {
      const pub = await open()
      const sub = await open()
      const r = await req(sub, "live", ...filters)
      expect(r.end.type).toBe("EOSE")
      for (const e of nonMatching) await publishOk(pub, e)
      // The first (and only) EVENT delivered is the matching one, published last.
      expect(await deliveredUntil(pub, sub, "live", matching)).toEqual([matching.id])
    }

    it("delivers by ids only the listed event", async () => {
      const k = newKey()
      const target = makeEvent({ created_at: now() }, k)
      await subscribeAndCheck([{ ids: [target.id] }], [makeEvent({ created_at: now() }, k)], target)
    })

    it("delivers by authors only that author's events", async () => {
      const k = newKey()
      await subscribeAndCheck([{ authors: [k.pk] }], [makeEvent({ created_at: now() }), makeEvent({ created_at: now() })], makeEvent({ created_at: now() }, k))
    })

    it("delivers by kinds only those kinds (AND with authors)", async () => {
      const k = newKey()
      await subscribeAndCheck(
        [{ kinds: [7], authors: [k.pk] }],
        [makeEvent({ kind: 1, created_at: now() }, k), makeEvent({ kind: 7, created_at: now() })],
        makeEvent({ kind: 7, created_at: now() }, k)
      )
    })

    it("delivers by #e, #p and #t tags only events carrying the value as a tag's first value", async () => {
      const target = makeEvent({ created_at: now() })
      const someone = newKey().pk
      const topic = `topic-${Math.random().toString(36).slice(2)}`
      await subscribeAndCheck(
        [{ "#e": [target.id] }],
        [
          makeEvent({ tags: [["e", someone]], created_at: now() }),
          makeEvent({ tags: [["p", target.id]], created_at: now() }), // right value, wrong tag name
          makeEvent({ tags: [["x", "y", target.id]], created_at: now() }) // value not in first position
        ],
        makeEvent({ tags: [["e", target.id]], created_at: now() })
      )
      await subscribeAndCheck(
        [{ "#p": [someone] }],
        [makeEvent({ tags: [["e", someone]], created_at: now() })],
        makeEvent({ tags: [["p", someone, "wss://x"]], created_at: now() })
      )
      await subscribeAndCheck(
        [{ "#t": [topic], kinds: [1] }],
        [makeEvent({ tags: [["t", "other"]], created_at: now() }), makeEvent({ kind: 2, tags: [["t", topic]], created_at: now() })],
        makeEvent({ tags: [["t", "first"], ["t", topic]], created_at: now() })
      )
    })

    it("delivers events matching any of several filters, each once", async () => {
      const pub = await open()
      const sub = await open()
      const k = newKey()
      const topic = `multi-${Math.random().toString(36).slice(2)}`
      await req(sub, "multi", { authors: [k.pk] }, { "#t": [topic] }, { kinds: [1], authors: [k.pk] })
      const byAuthor = makeEvent({ kind: 2, created_at: now() }, k)
      const byTag = makeEvent({ tags: [["t", topic]], created_at: now() })
      const byAll = makeEvent({ kind: 1, tags: [["t", topic]], created_at: now() }, k)
      await publishOk(pub, makeEvent({ created_at: now() }))
      for (const e of [byAuthor, byTag]) {
        await publishOk(pub, e)
        expect((await nextEvent(sub, "multi")).id).toBe(e.id)
      }
      const sentinel = makeEvent({ kind: 3, created_at: now() }, k)
      expect(await deliveredUntil(pub, sub, "multi", byAll)).toEqual([byAll.id])
      expect(await deliveredUntil(pub, sub, "multi", sentinel)).toEqual([sentinel.id])
    })

    it("stops live delivery after CLOSE", async () => {
      const pub = await open()
      const sub = await open()
      const k = newKey()
      await req(sub, "a", { authors: [k.pk] })
      await publishOk(pub, makeEvent({ created_at: now() }, k))
      await nextEvent(sub, "a")
      sub.send(["CLOSE", "a"])
      // Frames are handled in order: once "b" has its EOSE, "a" is closed.
      await req(sub, "b", { authors: [k.pk] }, { limit: 0 })
      const e = makeEvent({ created_at: now() }, k)
      await publishOk(pub, e)
      expect((await nextEvent(sub, "b")).id).toBe(e.id)
      const f = makeEvent({ created_at: now() }, k)
      await publishOk(pub, f)
      expect((await nextEvent(sub, "b")).id).toBe(f.id)
      expect(logged(sub, "EVENT", "a")).toHaveLength(1)
    })

    it("replaces a subscription sent again with the same id: old filters stop, one EOSE for the new one", async () => {
      const pub = await open()
      const sub = await open()
      const oldKey = newKey()
      const newK = newKey()
      const storedNew = makeEvent({ created_at: T0 }, newK)
      await publishOk(pub, storedNew)
      expect((await req(sub, "s", { authors: [oldKey.pk] })).events).toEqual([])
      const r = await req(sub, "s", { authors: [newK.pk] })
      expect(idsOf(r.events)).toEqual([storedNew.id])
      expect(logged(sub, "EOSE", "s")).toHaveLength(2) // one per REQ
      await publishOk(pub, makeEvent({ created_at: now() }, oldKey))
      const sentinel = makeEvent({ created_at: now() }, newK)
      expect(await deliveredUntil(pub, sub, "s", sentinel)).toEqual([sentinel.id])
      expect(logged(sub, "EOSE", "s")).toHaveLength(2)
    })

    it("CLOSE immediately followed by a REQ with the same id: the new subscription is answered and stays live", async () => {
      const pub = await open()
      const sub = await open()
      const k = newKey()
      const stored = makeEvent({ created_at: T0 }, k)
      await publishOk(pub, stored)
      await req(sub, "x", { authors: [k.pk] })
      for (let i = 0; i < 5; i++) {
        // Both frames in the same tick, so the relay handles them back to back.
        sub.send(["CLOSE", "x"])
        sub.send(["REQ", "x", { authors: [k.pk] }])
        const r = await (async () => {
          const events = []
          for (;;) {
            const f = await sub.next(forSub("x", "EVENT", "EOSE", "CLOSED"))
            if (f[0] !== "EVENT") return { events, end: f[0] }
            events.push(f[2].id)
          }
        })()
        expect(r).toEqual({ events: [stored.id], end: "EOSE" })
      }
      const e = makeEvent({ created_at: now() }, k)
      await publishOk(pub, e)
      expect((await nextEvent(sub, "x")).id).toBe(e.id)
    })

    it("REQ immediately followed by CLOSE: the subscription does not stay live", async () => {
      const pub = await open()
      const sub = await open()
      const k = newKey()
      for (let i = 0; i < 5; i++) {
        sub.send(["REQ", `y${i}`, { authors: [k.pk] }])
        sub.send(["CLOSE", `y${i}`])
      }
      await req(sub, "probe", { authors: [k.pk] })
      const e = makeEvent({ created_at: now() }, k)
      await publishOk(pub, e)
      expect((await nextEvent(sub, "probe")).id).toBe(e.id)
      const f = makeEvent({ created_at: now() }, k)
      await publishOk(pub, f)
      expect((await nextEvent(sub, "probe")).id).toBe(f.id)
      expect(sub.log.filter((x) => x[0] === "EVENT" && x[1] !== "probe")).toEqual([])
    })

    it("keeps subscriptions per connection: the same id on two connections is independent", async () => {
      const pub = await open()
      const c1 = await open()
      const c2 = await open()
      const k1 = newKey()
      const k2 = newKey()
      await req(c1, "same", { authors: [k1.pk] })
      await req(c2, "same", { authors: [k2.pk] })
      const e1 = makeEvent({ created_at: now() }, k1)
      const e2 = makeEvent({ created_at: now() }, k2)
      await publishOk(pub, e1)
      await publishOk(pub, e2)
      expect((await nextEvent(c1, "same")).id).toBe(e1.id)
      expect((await nextEvent(c2, "same")).id).toBe(e2.id)
      // Closing it on one connection leaves the other's alone.
      c1.send(["CLOSE", "same"])
      await req(c1, "probe", { limit: 0, authors: [k1.pk] })
      const e3 = makeEvent({ created_at: now() }, k2)
      await publishOk(pub, e3)
      expect((await nextEvent(c2, "same")).id).toBe(e3.id)
      const e4 = makeEvent({ created_at: now() }, k1)
      await publishOk(pub, e4)
      expect((await nextEvent(c1, "probe")).id).toBe(e4.id)
      expect(logged(c1, "EVENT", "same").map((f) => f[2].id)).toEqual([e1.id])
      expect(logged(c2, "EVENT", "same").map((f) => f[2].id)).toEqual([e2.id, e3.id])
    })
  })

  describe("kinds: replaceable, addressable, ephemeral", () => {
    const versionsOf = async (c: RawClient, k: Key, kind: number, extra: Record<string, unknown> = {}) =>
      idsOf((await req(c, `v${Math.random()}`, { authors: [k.pk], kinds: [kind], ...extra })).events)

    for (const kind of [0, 3, 10002]) {
      it(`kind ${kind}: keeps only the newest; an older version gets OK false duplicate: and is not served`, async () => {
        const c = await open()
        const k = newKey()
        const v1 = makeEvent({ kind, created_at: T0 }, k)
        const v2 = makeEvent({ kind, created_at: T0 + 10 }, k)
        const old = makeEvent({ kind, created_at: T0 + 5 }, k)
        await publishOk(c, v1)
        await publishOk(c, v2)
        expect(await versionsOf(c, k, kind)).toEqual([v2.id])
        const r = await publish(c, old)
        expect(r.accepted).toBe(false)
        expect(r.message).toMatch(/^duplicate: /)
        expect(await versionsOf(c, k, kind)).toEqual([v2.id])
        expect(idsOf((await req(c, "byid", { ids: [v1.id, old.id] })).events)).toEqual([])
      })
    }

    it("resending a version that was since replaced gets OK false duplicate:, not OK true", async () => {
      const c = await open()
      const k = newKey()
      for (const kind of [0, 30000]) {
        const v1 = makeEvent({ kind, created_at: T0 }, k)
        const v2 = makeEvent({ kind, created_at: T0 + 1 }, k)
        await publishOk(c, v1)
        await publishOk(c, v2)
        const r = await publish(c, v1)
        expect(r.accepted).toBe(false)
        expect(r.message).toMatch(/^duplicate: /)
        expect(await versionsOf(c, k, kind)).toEqual([v2.id])
        // The current version itself is a plain duplicate.
        const d = await publish(c, v2)
        expect(d.accepted).toBe(true)
        expect(d.message).toMatch(/^duplicate: /)
      }
    })

    it("replaceable with equal created_at keeps the lowest id, whichever arrives first", async () => {
      const c = await open()
      const k = newKey()
      const [low, high] = sameSecond({ kind: 10000, created_at: T0 }, k)
      await publishOk(c, high!)
      await publishOk(c, low!)
      expect(await versionsOf(c, k, 10000)).toEqual([low!.id])

      const k2 = newKey()
      const [low2, high2] = sameSecond({ kind: 0, created_at: T0 }, k2)
      await publishOk(c, low2!)
      const r = await publish(c, high2!)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^duplicate: /)
      expect(await versionsOf(c, k2, 0)).toEqual([low2!.id])
    })

    it("addressable events are replaced per d tag; a missing d tag is the empty d", async () => {
      const c = await open()
      const k = newKey()
      const noD = makeEvent({ kind: 30023, created_at: T0 }, k)
      const emptyD = makeEvent({ kind: 30023, tags: [["d", ""]], created_at: T0 + 1 }, k)
      const valuelessD = makeEvent({ kind: 30023, tags: [["d"]], created_at: T0 + 2 }, k)
      const other = makeEvent({ kind: 30023, tags: [["d", "other"]], created_at: T0 }, k)
      await publishOk(c, noD)
      await publishOk(c, other)
      await publishOk(c, emptyD)
      expect(await versionsOf(c, k, 30023)).toEqual([emptyD.id, other.id])
      await publishOk(c, valuelessD)
      expect(await versionsOf(c, k, 30023)).toEqual([valuelessD.id, other.id])
      const older = makeEvent({ kind: 30023, created_at: T0 + 1 }, k)
      const r = await publish(c, older)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^duplicate: /)
      const newerOther = makeEvent({ kind: 30023, tags: [["d", "other"]], created_at: T0 + 5 }, k)
      await publishOk(c, newerOther)
      expect(await versionsOf(c, k, 30023)).toEqual([newerOther.id, valuelessD.id])
      expect(await versionsOf(c, k, 30023, { "#d": ["other"] })).toEqual([newerOther.id])
    })

    it("ephemeral events are delivered live but never returned by a REQ", async () => {
      const pub = await open()
      const sub = await open()
      const k = newKey()
      await req(sub, "eph", { authors: [k.pk] })
      const e = makeEvent({ kind: 20001, created_at: now() }, k)
      expect(await publish(pub, e)).toEqual({ accepted: true, message: "" })
      expect((await nextEvent(sub, "eph")).id).toBe(e.id)
      const later = await req(pub, "eph-later", { authors: [k.pk] }, { ids: [e.id] })
      expect(later.events).toEqual([])
      const count = await (async () => {
        pub.send(["COUNT", "eph-count", { ids: [e.id] }])
        return (await pub.next(forSub("eph-count", "COUNT")))[2]
      })()
      expect(count).toEqual({ count: 0 })
    })
  })

  describe("invalid and malformed input", () => {
    it("answers a wrong id with OK false invalid:", async () => {
      const c = await open()
      const e = makeEvent({ created_at: now() })
      const tampered = { ...e, content: e.content + "!" }
      const r = await publish(c, tampered)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^invalid: /)
      expect((await req(c, "t", { ids: [e.id] })).events).toEqual([])
    })

    it("answers a bad signature with OK false invalid: and does not store it", async () => {
      const c = await open()
      const e = makeEvent({ created_at: now() })
      const other = makeEvent({ created_at: now() })
      const badSig = { ...e, sig: other.sig }
      const r = await publish(c, badSig)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^invalid: /)
      expect((await req(c, "t", { ids: [e.id] })).events).toEqual([])
      // The genuine event is still accepted afterwards (the bad one was not cached as seen).
      expect(await publish(c, e)).toEqual({ accepted: true, message: "" })
    })

    const shapes: ReadonlyArray<[string, (e: NostrEvent) => Record<string, unknown>]> = [
      ["missing pubkey", ({ pubkey: _p, ...rest }) => rest],
      ["numeric created_at as string", (e) => ({ ...e, created_at: String(e.created_at) })],
      ["negative kind", (e) => ({ ...e, kind: -1 })],
      ["non-string content", (e) => ({ ...e, content: 5 })],
      ["tags not an array", (e) => ({ ...e, tags: {} })],
      ["tag with a number", (e) => ({ ...e, tags: [["t", 1]] })],
      ["uppercase hex sig", (e) => ({ ...e, sig: e.sig.toUpperCase() })],
      ["short pubkey", (e) => ({ ...e, pubkey: e.pubkey.slice(2) })]
    ]
    for (const [what, mutate] of shapes) {
      it(`answers a malformed event (${what}) with OK false invalid: carrying its id`, async () => {
        const c = await open()
        const e = makeEvent({ created_at: now() })
        const r = await publish(c, mutate(e))
        expect(r.accepted).toBe(false)
        expect(r.message).toMatch(/^invalid: /)
      })
    }

    it("answers an event without a readable id with a NOTICE, and stays usable", async () => {
      const c = await open()
      const { id: _id, ...noId } = makeEvent({ created_at: now() })
      for (const frame of [["EVENT", noId], ["EVENT", { ...noId, id: 42 }], ["EVENT", "not an object"], ["EVENT", null], ["EVENT"]]) {
        c.send(frame)
        const n = await c.next(isNotice)
        expect(n[1]).toMatch(/^invalid: /)
      }
      expect(logged(c, "OK")).toEqual([])
      expect((await req(c, "still", { limit: 1 })).end.type).toBe("EOSE")
    })

    it("answers unparseable frames and unknown message types with a NOTICE, and stays usable", async () => {
      const c = await open()
      const bad = ["not json", "{\"a\":1}", "[]", "[1,2]", "[\"HELLO\",1]", "\"EVENT\"", "[\"REQ\"]", "[\"REQ\",\"\",{}]", "[\"CLOSE\"]", "null", "[\"REQ\", 5, {}]"]
      for (const text of bad) {
        c.send(text)
        expect((await c.next())[0]).toBe("NOTICE")
      }
      const e = makeEvent({ created_at: now() })
      expect(await publish(c, e)).toEqual({ accepted: true, message: "" })
      expect(idsOf((await req(c, "ok", { ids: [e.id] })).events)).toEqual([e.id])
      expect(c.ws.readyState).toBe(c.ws.OPEN)
    })
  })

  describe("COUNT, AUTH, NEG-OPEN", () => {
    it("COUNT returns [\"COUNT\", id, {count: n}] over the union of filters, ignoring limit", async () => {
      const c = await open()
      const a = newKey()
      const b = newKey()
      const evs = [makeEvent({ created_at: T0 }, a), makeEvent({ created_at: T0 + 1 }, a), makeEvent({ kind: 7, created_at: T0 }, b)]
      for (const e of evs) await publishOk(c, e)
      c.send(["COUNT", "cnt", { authors: [a.pk], limit: 1 }, { authors: [a.pk, b.pk], kinds: [7] }])
      expect(await c.next(forSub("cnt"))).toEqual(["COUNT", "cnt", { count: 3 }])
      c.send(["COUNT", "zero", { authors: [newKey().pk] }])
      expect(await c.next(forSub("zero"))).toEqual(["COUNT", "zero", { count: 0 }])
    })

    it("AUTH is answered with an OK: false with invalid: for a wrong challenge", async () => {
      const c = await open()
      const e = makeEvent({ kind: 22242, tags: [["relay", relay.url], ["challenge", "x"]], created_at: now() })
      c.send(["AUTH", e])
      const f = await c.next((f) => f[0] === "OK")
      expect(f[1]).toBe(e.id)
      expect(f[2]).toBe(false)
      expect(f[3]).toMatch(/^invalid: /)
    })

    it("AUTH without an event id is answered with a NOTICE, not an OK with an empty id", async () => {
      const c = await open()
      c.send(["AUTH", "challenge-string"])
      const f = await c.next()
      expect(f[0]).toBe("NOTICE")
      expect(f[1]).toMatch(/^invalid: /)
    })

    it("NEG-OPEN is answered with NEG-MSG (NIP-77), and with NEG-ERR for a message that is not negentropy", async () => {
      const c = await open()
      c.send(["NEG-OPEN", "neg", {}, "6100000200"])
      const f = await c.next()
      expect(f[0]).toBe("NEG-MSG")
      expect(f[1]).toBe("neg")
      expect(f[2]).toMatch(/^61/)
      c.send(["NEG-OPEN", "bad", {}, "00"])
      const g = await c.next()
      expect(g).toEqual(["NEG-ERR", "bad", expect.stringMatching(/^invalid: /)])
    })
  })

  describe("NIP-40 on ingest", () => {
    it("refuses an already-expired event with OK false invalid:", async () => {
      const c = await open()
      const e = makeEvent({ tags: [["expiration", String(now() - 10)]], created_at: now() - 20 })
      const r = await publish(c, e)
      expect(r.accepted).toBe(false)
      expect(r.message).toMatch(/^invalid: /)
      expect((await req(c, "exp", { ids: [e.id] })).events).toEqual([])
    })

    it("accepts and serves an event that expires later", async () => {
      const c = await open()
      const e = makeEvent({ tags: [["expiration", String(now() + 3600)]], created_at: now() })
      expect(await publish(c, e)).toEqual({ accepted: true, message: "" })
      expect(idsOf((await req(c, "exp", { ids: [e.id] })).events)).toEqual([e.id])
    })
  })
  })
