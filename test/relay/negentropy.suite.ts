/**
 * NIP-77 in the relay, end to end with our engine as the client over raw
 * frames: reconciliation, the same access rules as REQ (AUTH, private kinds,
 * bans), limits (records, sessions, idle), and bad messages; one suite for
 * every store.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { bytesToHex, hexToBytes, Negentropy, Storage } from "../../src/negentropy/engine.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { rpc } from "../support/nip98.ts"
import type { TestRelay } from "../support/relay.ts"
import { authenticate } from "../support/auth.ts"
import { useRelays } from "../support/relays.ts"
import { forSub, now, publishOk, type RawClient } from "../support/ws.ts"

export const negentropySuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-77 negentropy (${name} store)`, () => {
    const relays = useRelays(start)
    const authAs = (c: RawClient, relay: TestRelay, key: Key) => authenticate(c, relay.url, key)
    /** Runs a session from `mine` against the relay; resolves with have/need ids, or the NEG-ERR reason. */
    const reconcile = async (c: RawClient, filter: Record<string, unknown>, mine: ReadonlyArray<NostrEvent>) => {
      const subId = `n${Math.random().toString(36).slice(2, 8)}`
      const engine = new Negentropy(new Storage(mine.map((e) => ({ timestamp: e.created_at, id: hexToBytes(e.id) }))), 60_000)
      const have: Array<string> = []
      const need: Array<string> = []
      c.send(["NEG-OPEN", subId, filter, bytesToHex(engine.initiate())])
      for (let round = 0; round < 100; round++) {
        const f = await c.next(forSub(subId, "NEG-MSG", "NEG-ERR"))
        if (f[0] === "NEG-ERR") return { error: f[2] as string }
        const r = engine.reconcile(hexToBytes(f[2]))
        have.push(...r.have)
        need.push(...r.need)
        if (r.next === undefined) {
          c.send(["NEG-CLOSE", subId])
          return { have: have.sort(), need: need.sort() }
        }
        c.send(["NEG-MSG", subId, bytesToHex(r.next)])
      }
      throw new Error("no convergence")
    }
    const sorted = (events: ReadonlyArray<NostrEvent>) => events.map((e) => e.id).sort()

    it("finds what each side lacks, for a filter", async () => {
      const relay = await relays.start()
      const c = await relays.open(relay)
      const k = newKey()
      const t = now() - 1000
      const both = Array.from({ length: 40 }, (_, i) => makeEvent({ created_at: t + i }, k))
      const relayOnly = Array.from({ length: 7 }, (_, i) => makeEvent({ created_at: t + i }, k))
      const clientOnly = Array.from({ length: 5 }, (_, i) => makeEvent({ created_at: t + 100 + i }, k))
      const otherAuthor = makeEvent({ created_at: t }, newKey())
      for (const e of [...both, ...relayOnly, otherAuthor]) await publishOk(c, e)
      const r = await reconcile(c, { authors: [k.pk] }, [...both, ...clientOnly])
      expect(r).toEqual({ have: sorted(clientOnly), need: sorted(relayOnly) })
      const nips = ((await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { supported_nips: Array<number> }).supported_nips
      expect(nips).toContain(77)
    })

    it("reveals exactly what REQ would: private kinds need AUTH as a recipient, bans hide events", async () => {
      const admin = newKey()
      const relay = await relays.start({ adminPubkeys: [admin.pk] })
      const w = await relays.open(relay)
      const bob = newKey()
      const base = 1_640_000_000 + Math.floor(Math.random() * 1_000_000) * 10
      const wrap = makeEvent({ kind: 1059, created_at: base, tags: [["p", bob.pk]] })
      const note = makeEvent({ created_at: base + 1 })
      const banned = makeEvent({ created_at: base + 2 })
      for (const e of [wrap, note, banned]) await publishOk(w, e)
      expect((await rpc(relay.httpUrl, admin, "banevent", [banned.id])).body).toEqual({ result: true })
      const window = { since: base, until: base + 2 }
      const anon = await relays.open(relay)
      expect(await reconcile(anon, { kinds: [1059] }, [])).toEqual({ error: expect.stringMatching(/^auth-required: /) })
      expect(await reconcile(anon, window, [])).toEqual({ have: [], need: [note.id] })
      const asBob = await relays.open(relay)
      await authAs(asBob, relay, bob)
      expect(await reconcile(asBob, window, [])).toEqual({ have: [], need: [wrap.id, note.id].sort() })
      const asOther = await relays.open(relay)
      await authAs(asOther, relay, newKey())
      expect(await reconcile(asOther, { kinds: [1059], since: base, until: base }, [])).toEqual({ have: [], need: [] })
    })

    it("refuses too many records, too many sessions, unknown sessions and bad messages", async () => {
      const relay = await relays.start({ negentropyMaxRecords: 3, negentropyMaxSessions: 1 })
      const c = await relays.open(relay)
      const k = newKey()
      for (let i = 0; i < 5; i++) await publishOk(c, makeEvent({ created_at: now() - i }, k))
      expect(await reconcile(c, { authors: [k.pk] }, [])).toEqual({ error: expect.stringMatching(/^blocked: .*more than 3/) })
      const small = new Negentropy(new Storage([]))
      const open = (id: string, filter: unknown = { authors: [k.pk], limit: 2 }) => c.send(["NEG-OPEN", id, filter, bytesToHex(new Negentropy(new Storage([])).initiate())])
      open("s1")
      expect((await c.next(forSub("s1", "NEG-MSG", "NEG-ERR")))[0]).toBe("NEG-MSG")
      open("s2")
      expect((await c.next(forSub("s2", "NEG-MSG", "NEG-ERR")))[2]).toMatch(/^blocked: .*sessions/)
      c.send(["NEG-CLOSE", "s1"])
      c.send(["NEG-MSG", "s1", bytesToHex(small.initiate())])
      expect((await c.next(forSub("s1", "NEG-ERR")))[2]).toMatch(/^closed: /)
      c.send(["NEG-OPEN", "s3", { authors: [k.pk], limit: 2 }, "zz-not-hex"])
      expect((await c.next(forSub("s3", "NEG-ERR")))[2]).toMatch(/^invalid: /)
      c.send(["NEG-OPEN", "s4", { authors: ["nothex"] }, "61"])
      expect((await c.next(forSub("s4", "NEG-ERR")))[2]).toMatch(/^invalid: /)
      c.send(["NEG-OPEN", "s5", { authors: [k.pk], limit: 2 }, "6100000200"])
      expect((await c.next(forSub("s5", "NEG-MSG", "NEG-ERR")))[0]).toBe("NEG-MSG")
    })

    it("bounds the records held by all open sessions together, across connections", async () => {
      const relay = await relays.start({ negentropyMaxTotalRecords: 5 })
      const [a, b] = [await relays.open(relay), await relays.open(relay)]
      const k = newKey()
      for (let i = 0; i < 3; i++) await publishOk(a, makeEvent({ created_at: now() - i }, k))
      const open = (c: typeof a, id: string) => c.send(["NEG-OPEN", id, { authors: [k.pk] }, bytesToHex(new Negentropy(new Storage([])).initiate())])
      open(a, "first") // 3 records held
      expect((await a.next(forSub("first", "NEG-MSG", "NEG-ERR")))[0]).toBe("NEG-MSG")
      open(b, "second") // 3 more would make 6
      expect((await b.next(forSub("second", "NEG-MSG", "NEG-ERR")))[2]).toMatch(/^blocked: .*too many records/)
      a.send(["NEG-CLOSE", "first"])
      open(b, "third")
      expect((await b.next(forSub("third", "NEG-MSG", "NEG-ERR")))[0]).toBe("NEG-MSG")
    })

    it("closes a session left idle", async () => {
      const relay = await relays.start({ negentropyIdleSeconds: 5, pingIntervalSeconds: 1 })
      const c = await relays.open(relay)
      c.send(["NEG-OPEN", "idle", {}, bytesToHex(new Negentropy(new Storage([])).initiate())])
      expect((await c.next(forSub("idle", "NEG-MSG")))[0]).toBe("NEG-MSG")
      expect((await c.next(forSub("idle", "NEG-ERR"), 15_000))[2]).toMatch(/^closed: /)
    }, 30_000)
  })
