/**
 * NIP-29 relay-based groups end to end, one suite for every store: creation
 * (groupCreation), the write rules of the flags (restricted, closed, private,
 * hidden), supported kinds, late publication and timeline references, the
 * moderation events 9000-9010 by role, join and leave answered with the
 * relay's 9000 / 9001, the relay-signed 39000-39003 and 39005 (and nobody
 * else's), private and hidden groups' reads (REQ, COUNT, NIP-77, live),
 * subgroups, deleting a group, and the NIP-86 methods for operators.
 */
import { verifyEvent } from "nostr-tools/pure"
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { bytesToHex, hexToBytes, Negentropy, Storage } from "../../src/negentropy/engine.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { authenticate } from "../support/auth.ts"
import { rpc } from "../support/nip98.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { forSub, nextEvent, now, publish, publishOk, req, reqClosed, type RawClient } from "../support/ws.ts"

interface Info {
  readonly self: string
  readonly pubkey?: string
  readonly supported_nips: Array<number>
  readonly nip29?: { readonly subgroups: boolean }
}

let groupCounter = 0
/** A fresh group id per call (the postgres suite's database is shared by the file's tests). */
const gid = (name: string) => `${name}-${process.pid}-${++groupCounter}`

export const groupsSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-29 groups (${name} store)`, () => {
    const relays = useRelays(start)
    const info = async (relay: TestRelay) => (await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as Info
    const as = async (relay: TestRelay, key: Key) => {
      const c = await relays.open(relay)
      await authenticate(c, relay.url, key)
      return c
    }
    let n = 0
    /** A group event; each gets its own content, so two alike in one second are two events. */
    const ev = (key: Key, kind: number, group: string, tags: ReadonlyArray<ReadonlyArray<string>> = [], content = `#${++n}`, created_at = now()) =>
      makeEvent({ kind, created_at, content, tags: [["h", group], ...tags] }, key)
    /** The relay's state event of a kind for a group (undefined when none is served to `c`). */
    const state = async (c: RawClient, self: string, kind: number, group: string) =>
      (await req(c, `s${Math.random().toString(36).slice(2, 8)}`, { kinds: [kind], authors: [self], "#d": [group] })).events[0]
    const tagsOf = (e: NostrEvent | undefined, name: string) => (e?.tags ?? []).filter((t) => t[0] === name)
    const pOf = (e: NostrEvent | undefined) => tagsOf(e, "p").map((t) => t.slice(1))
    /** A group created by `owner` (authenticated on `c`), optionally edited to `meta` tags. */
    const group = async (c: RawClient, owner: Key, id: string, meta?: ReadonlyArray<ReadonlyArray<string>>) => {
      await publishOk(c, ev(owner, 9007, id))
      if (meta !== undefined) await publishOk(c, ev(owner, 9002, id, meta))
      return id
    }

    it("any authenticated pubkey creates a group (9007) and becomes its admin; new groups are open and public; the state is signed with the relay's key", async () => {
      const relay = await relays.start({})
      const doc = await info(relay)
      expect(doc.supported_nips).toContain(29)
      expect(doc.nip29).toEqual({ subgroups: true })
      expect(doc.self).toMatch(/^[0-9a-f]{64}$/)
      // No contact pubkey set: NIP-11 pubkey names the relay's key (where nostr-tools' loadGroup looks for the group state's author).
      expect(doc.pubkey).toBe(doc.self)
      // No live audio/video: the well-known endpoint does not answer 204 (29.md's sign of LiveKit support).
      expect((await fetch(`${relay.httpUrl}/.well-known/nip29/livekit`)).status).toBe(404)
      const contact = newKey().pk
      expect((await info(await relays.start({ pubkey: contact }))).pubkey).toBe(contact)
      const alice = newKey()
      const anon = await relays.open(relay)
      const id = gid("pizza")
      // Creation needs AUTH as the creator.
      expect((await publish(anon, ev(alice, 9007, id))).message).toMatch(/^auth-required: /)
      const asBob = await as(relay, newKey())
      expect((await publish(asBob, ev(alice, 9007, id))).message).toMatch(/^restricted: /)
      const asAlice = await as(relay, alice)
      await publishOk(asAlice, ev(alice, 9007, id, [], "a place for pizza"))
      expect(await publish(asAlice, ev(alice, 9007, id))).toEqual({ accepted: false, message: expect.stringMatching(/^duplicate: /) })
      expect((await publish(asAlice, ev(alice, 9007, "not a group id!"))).message).toMatch(/^invalid: /)

      const meta = await state(anon, doc.self, 39000, id)
      expect(meta?.tags).toEqual([["d", id]])
      expect(pOf(await state(anon, doc.self, 39001, id))).toEqual([[alice.pk, "admin"]])
      expect(pOf(await state(anon, doc.self, 39002, id))).toEqual([[alice.pk]])
      expect(tagsOf(await state(anon, doc.self, 39003, id), "role").map((t) => t[1])).toEqual(["admin", "moderator"])
      expect((await state(anon, doc.self, 39005, id))?.tags).toEqual([["d", id]])
      for (const k of [39000, 39001, 39002, 39003, 39005]) {
        const e = (await state(anon, doc.self, k, id))!
        expect(e.pubkey).toBe(doc.self)
        expect(verifyEvent({ ...e, tags: e.tags.map((t) => [...t]) })).toBe(true)
      }
      // Open and public: anyone posts, anyone reads.
      const stranger = newKey()
      const hello = ev(stranger, 9, id, [], "hello")
      await publishOk(anon, hello)
      expect((await req(anon, "r", { "#h": [id] })).events.map((e) => e.id)).toContain(hello.id)
      // The creation event is kept as the group's history, with the relay's 9000 giving the creator its role.
      expect((await req(anon, "hist", { kinds: [9007], "#h": [id] })).events.map((e) => e.pubkey)).toEqual([alice.pk])
      expect((await req(anon, "role", { kinds: [9000], authors: [doc.self], "#h": [id] })).events.map((e) => e.tags)).toEqual([
        [["h", id], ["p", alice.pk, "admin"]]
      ])
    })

    it("groupCreation: members (NIP-43), admins (adminPubkeys) or off", async () => {
      const admin = newKey()
      const member = newKey()
      for (const [mode, allowed] of [
        ["members", member],
        ["admins", admin],
        ["off", undefined]
      ] as const) {
        const relay = await relays.start({ groupCreation: mode, nip43: true, adminPubkeys: [admin.pk] })
        expect((await rpc(relay.httpUrl, admin, "addmember", [member.pk])).body).toEqual({ result: true })
        for (const key of [member, admin, newKey()]) {
          const c = await as(relay, key)
          const r = await publish(c, ev(key, 9007, gid(`by-${mode}`)))
          if (key === allowed) expect(r, mode).toEqual({ accepted: true, message: "" })
          else expect(r.message, mode).toMatch(/^restricted: /)
        }
      }
    })

    it("h tags naming no managed group are refused unless groupsUnmanaged; 39000-39005 come from the relay only; NIP-EE's 445 is not a NIP-29 group", async () => {
      const relay = await relays.start({ nipEE: true })
      const c = await relays.open(relay)
      const k = newKey()
      expect((await publish(c, ev(k, 9, gid("nowhere")))).message).toMatch(/^invalid: .*no group/)
      expect((await publish(c, ev(k, 9021, gid("nowhere")))).message).toMatch(/^invalid: /)
      expect((await publish(c, makeEvent({ kind: 9000, created_at: now(), tags: [["p", k.pk]] }, k))).message).toMatch(/^invalid: .*h tag/)
      await publishOk(c, makeEvent({ kind: 445, created_at: now(), tags: [["h", "an-mls-group"]], content: "ciphertext" }, k))
      for (const kind of [39000, 39001, 39002, 39003, 39004, 39005]) {
        expect((await publish(c, makeEvent({ kind, created_at: now(), tags: [["d", "x"]] }, k))).message, String(kind)).toMatch(/^blocked: /)
      }
      const open = await relays.start({ groupsUnmanaged: true })
      const o = await relays.open(open)
      await publishOk(o, ev(k, 9, gid("unmanaged")))
    })

    it("write rules: restricted (members write), supported_kinds, late publication, timeline references", async () => {
      const relay = await relays.start({})
      const owner = newKey()
      const member = newKey()
      const outsider = newKey()
      const c = await as(relay, owner)
      const id = await group(c, owner, gid("rules"), [["name", "Rules"], ["restricted"], ["supported_kinds", "9", "11"]])
      await publishOk(c, ev(owner, 9000, id, [["p", member.pk]]))
      const first = ev(member, 9, id, [], "first")
      await publishOk(c, first)
      expect((await publish(c, ev(outsider, 9, id))).message).toMatch(/^restricted: only members/)
      expect((await publish(c, ev(member, 1, id))).message).toMatch(/^blocked: .*kind 1/)
      await publishOk(c, ev(member, 11, id, [], "a thread"))
      // Late publication: an hour old is refused (default 900 s).
      expect((await publish(c, ev(member, 9, id, [], "old", now() - 3600))).message).toMatch(/^invalid: .*late publication/)
      // Timeline references: known prefixes pass, unknown or malformed ones are refused.
      await publishOk(c, ev(member, 9, id, [["previous", first.id.slice(0, 8)]], "in context"))
      expect((await publish(c, ev(member, 9, id, [["previous", first.id.slice(0, 8), "00000000"]]))).message).toMatch(/^invalid: unknown timeline reference.*00000000/)
      expect((await publish(c, ev(member, 9, id, [["previous", "xyz"]]))).message).toMatch(/^invalid: /)
      // Any recent event of this relay is a reference (29.md: "the last 50 events seen by the user in the relay").
      const other = await group(c, owner, gid("other"))
      const elsewhere = ev(owner, 9, other, [], "elsewhere")
      await publishOk(c, elsewhere)
      await publishOk(c, ev(member, 9, id, [["previous", elsewhere.id.slice(0, 8), first.id.slice(0, 8)]]))
      // Unrestricted again: anyone writes.
      await publishOk(c, ev(owner, 9002, id, [["name", "Rules"]]))
      await publishOk(c, ev(outsider, 1, id))
    })

    it("groupsMinPrevious: events must reference enough recent events by others; groupsLatePublicationSeconds 0 takes old events", async () => {
      const relay = await relays.start({ groupsMinPrevious: 2, groupsLatePublicationSeconds: 0 })
      const owner = newKey()
      const c = await as(relay, owner)
      const id = gid("strict")
      // The first events of a group have no one else's to reference.
      await publishOk(c, ev(owner, 9007, id))
      const a = ev(owner, 9, id, [], "a", now() - 86400)
      await publishOk(c, a)
      const b = ev(owner, 9, id, [], "b")
      await publishOk(c, b)
      const guest = newKey()
      expect((await publish(c, ev(guest, 9, id, [["previous", a.id.slice(0, 8)]]))).message).toMatch(/^invalid: .*at least 2/)
      await publishOk(c, ev(guest, 9, id, [["previous", a.id.slice(0, 8), b.id.slice(0, 8)]]))
    })

    it("moderation events 9000-9010 are applied only when the author's role permits them, and kept as history", async () => {
      const relay = await relays.start({})
      const doc = await info(relay)
      const owner = newKey()
      const mod = newKey()
      const plain = newKey()
      const outsider = newKey()
      const c = await as(relay, owner)
      const anon = await relays.open(relay)
      const id = await group(c, owner, gid("mod"))

      // put-user: a non-member and a member without a privileged role may not.
      expect((await publish(c, ev(outsider, 9000, id, [["p", plain.pk]]))).message).toMatch(/^restricted: /)
      await publishOk(c, ev(owner, 9000, id, [["p", plain.pk]], "welcome"))
      expect((await publish(c, ev(plain, 9000, id, [["p", outsider.pk]]))).message).toMatch(/^restricted: /)
      await publishOk(c, ev(owner, 9000, id, [["p", mod.pk, "moderator", "gardener"]]))
      expect(pOf(await state(anon, doc.self, 39001, id))).toEqual([[owner.pk, "admin"], [mod.pk, "moderator", "gardener"]])
      expect(pOf(await state(anon, doc.self, 39002, id)).map((p) => p[0])).toEqual([owner.pk, plain.pk, mod.pk])

      // A moderator puts and removes users, but grants no more than it holds and touches no admin.
      const guest = newKey()
      await publishOk(c, ev(mod, 9000, id, [["p", guest.pk]]))
      expect((await publish(c, ev(mod, 9000, id, [["p", guest.pk, "admin"]]))).message).toMatch(/^restricted: .*grant/)
      expect((await publish(c, ev(mod, 9001, id, [["p", owner.pk]]))).message).toMatch(/^restricted: /)
      await publishOk(c, ev(mod, 9001, id, [["p", guest.pk]]))
      expect(pOf(await state(anon, doc.self, 39002, id)).map((p) => p[0])).not.toContain(guest.pk)
      expect((await publish(c, ev(mod, 9002, id, [["name", "taken over"]]))).message).toMatch(/^restricted: .*edit-metadata/)

      // edit-metadata carries every field; flags appear in 39000.
      await publishOk(c, ev(owner, 9002, id, [["name", "Pizza"], ["about", "cheese"], ["picture", "https://p.example/p.png"], ["private"], ["closed"], ["supported_kinds", "9"]]))
      const meta = await state(await as(relay, owner), doc.self, 39000, id)
      expect(meta?.tags).toEqual([["d", id], ["name", "Pizza"], ["picture", "https://p.example/p.png"], ["about", "cheese"], ["private"], ["closed"], ["supported_kinds", "9"]])
      await publishOk(c, ev(owner, 9002, id, [["name", "Pizza"]]))
      expect((await state(anon, doc.self, 39000, id))?.tags).toEqual([["d", id], ["name", "Pizza"]])

      // delete-event: gone, and only events of this group.
      const spam = ev(plain, 9, id, [], "spam")
      await publishOk(c, spam)
      await publishOk(c, ev(mod, 9005, id, [["e", spam.id]]))
      expect((await req(anon, "gone", { ids: [spam.id] })).events).toEqual([])
      expect((await publish(c, spam)).accepted).toBe(false)
      const other = await group(c, owner, gid("other"))
      const there = ev(owner, 9, other)
      await publishOk(c, there)
      expect((await publish(c, ev(owner, 9005, id, [["e", there.id]]))).message).toMatch(/^invalid: .*not in group/)

      // update-pin-list: the whole ordered list, mirrored by 39005.
      const p1 = ev(plain, 9, id, [], "pin me")
      const p2 = ev(owner, 9, id, [], "and me")
      await publishOk(c, p1)
      await publishOk(c, p2)
      const address = `30023:${owner.pk}:article`
      await publishOk(c, ev(mod, 9010, id, [["e", p2.id], ["a", address], ["e", p1.id]]))
      expect((await state(anon, doc.self, 39005, id))?.tags).toEqual([["d", id], ["e", p2.id], ["a", address], ["e", p1.id]])
      await publishOk(c, ev(mod, 9010, id, [["e", p1.id]]))
      expect((await state(anon, doc.self, 39005, id))?.tags).toEqual([["d", id], ["e", p1.id]])

      // create-invite: kept, served to its author only (the code is a secret).
      const invite = ev(owner, 9009, id, [["code", "s3cret"]])
      await publishOk(c, invite)
      expect((await publish(c, ev(owner, 9009, id))).message).toMatch(/^invalid: .*code/)
      expect((await req(await as(relay, mod), "inv", { kinds: [9009], "#h": [id] })).events).toEqual([])
      expect((await req(c, "inv", { kinds: [9009], "#h": [id] })).events.map((e) => e.id)).toEqual([invite.id])

      // Kinds 9000-9020 the relay does not know are refused.
      expect((await publish(c, ev(owner, 9003, id))).message).toMatch(/^invalid: .*moderation/)

      // History: the moderation events as the group's timeline.
      const history = (await req(anon, "hist", { kinds: [9000, 9001, 9002, 9005, 9007, 9010], "#h": [id] })).events
      expect(history.filter((e) => e.kind === 9000 && e.pubkey !== doc.self).length).toBe(3)
      expect(history.filter((e) => e.kind === 9001).length).toBe(1)
      expect(history.filter((e) => e.kind === 9002).length).toBe(2)
      expect(history.filter((e) => e.kind === 9010).length).toBe(2)
    })

    it("join (9021, with an optional code) and leave (9022) are answered, the relay issuing the matching 9000 / 9001", async () => {
      const relay = await relays.start({})
      const doc = await info(relay)
      const owner = newKey()
      const c = await as(relay, owner)
      const anon = await relays.open(relay)
      const open = await group(c, owner, gid("open"))
      const closed = await group(c, owner, gid("closed"), [["closed"]])
      await publishOk(c, ev(owner, 9009, closed, [["code", "letmein"]]))

      const ann = newKey()
      const join = ev(ann, 9021, open, [], "hi")
      await publishOk(anon, join)
      const added = (await req(anon, "add", { kinds: [9000], authors: [doc.self], "#h": [open] })).events
      // Ann's, and the creator's (with its role).
      expect(added.map((e) => tagsOf(e, "p")[0]!.slice(1)).sort()).toEqual([[ann.pk], [owner.pk, "admin"]].sort())
      expect(pOf(await state(anon, doc.self, 39002, open)).map((p) => p[0])).toContain(ann.pk)
      expect(await publish(anon, ev(ann, 9021, open))).toEqual({ accepted: false, message: expect.stringMatching(/^duplicate: /) })

      // Closed: no code, a wrong code: refused, saying it is final; the admin's code: in.
      expect((await publish(anon, ev(ann, 9021, closed))).message).toMatch(/^restricted: .*closed.*invite code/)
      expect((await publish(anon, ev(ann, 9021, closed, [["code", "wrong"]]))).message).toMatch(/^restricted: /)
      await publishOk(anon, ev(ann, 9021, closed, [["code", "letmein"]]))
      const ben = newKey()
      await publishOk(anon, ev(ben, 9021, closed, [["code", "letmein"]]))
      expect(pOf(await state(anon, doc.self, 39002, closed)).map((p) => p[0])).toEqual([owner.pk, ann.pk, ben.pk])
      // Join requests hold codes: served to their authors only.
      expect((await req(anon, "j", { kinds: [9021] })).end).toEqual({ type: "CLOSED", message: expect.stringMatching(/^auth-required: /) })
      expect((await req(await as(relay, ann), "j", { kinds: [9021], "#h": [closed] })).events.map((e) => e.pubkey)).toEqual([ann.pk])

      // Leave.
      await publishOk(anon, ev(ann, 9022, closed, [], "bye"))
      const removed = (await req(anon, "rm", { kinds: [9001], authors: [doc.self], "#h": [closed] })).events
      expect(removed.map((e) => tagsOf(e, "p")[0]![1])).toEqual([ann.pk])
      expect(pOf(await state(anon, doc.self, 39002, closed)).map((p) => p[0])).toEqual([owner.pk, ben.pk])
      expect(await publish(anon, ev(ann, 9022, closed))).toEqual({ accepted: false, message: expect.stringMatching(/^duplicate: /) })
    })

    it("private groups are read by members only, after AUTH: REQ, COUNT, NIP-77 and live; hidden groups' state only for members", async () => {
      const relay = await relays.start({})
      const doc = await info(relay)
      const owner = newKey()
      const member = newKey()
      const outsider = newKey()
      const c = await as(relay, owner)
      const id = await group(c, owner, gid("secret"), [["name", "Secret"], ["private"], ["hidden"]])
      const pub = await group(c, owner, gid("public"))
      await publishOk(c, ev(owner, 9000, id, [["p", member.pk]]))
      const secret = ev(member, 9, id, [], "for members")
      const visible = ev(member, 9, pub, [], "for all")
      await publishOk(c, secret)
      await publishOk(c, visible)

      const anon = await relays.open(relay)
      const asOutsider = await as(relay, outsider)
      const asMember = await as(relay, member)
      // REQ naming the group.
      expect(await reqClosed(anon, "h", { "#h": [id] })).toMatch(/^auth-required: /)
      expect(await reqClosed(asOutsider, "h", { "#h": [id] })).toMatch(/^restricted: /)
      expect((await req(asMember, "h", { "#h": [id], kinds: [9] })).events.map((e) => e.id)).toEqual([secret.id])
      // REQ and COUNT not naming it: narrowed.
      const mine = { kinds: [9], authors: [member.pk] }
      expect((await req(asOutsider, "k", mine)).events.map((e) => e.id)).toEqual([visible.id])
      expect((await req(anon, "k", mine)).events.map((e) => e.id)).toEqual([visible.id])
      expect((await req(asMember, "k", mine)).events.map((e) => e.id).sort()).toEqual([secret.id, visible.id].sort())
      const count = async (cl: RawClient) => {
        cl.send(["COUNT", "n", mine])
        return (await cl.next(forSub("n", "COUNT")))[2].count as number
      }
      expect(await count(asOutsider)).toBe(1)
      expect(await count(asMember)).toBe(2)
      // A mixed #h list: the readable part.
      expect((await req(asOutsider, "mix", { "#h": [id, pub], kinds: [9] })).events.map((e) => e.id)).toEqual([visible.id])
      // NIP-77: the records follow the same rules.
      const records = async (cl: RawClient) => {
        const engine = new Negentropy(new Storage([]), 60_000)
        const sub = `neg${Math.random().toString(36).slice(2, 6)}`
        cl.send(["NEG-OPEN", sub, mine, bytesToHex(engine.initiate())])
        const need: Array<string> = []
        for (;;) {
          const f = await cl.next(forSub(sub, "NEG-MSG", "NEG-ERR"))
          if (f[0] === "NEG-ERR") throw new Error(f[2])
          const r = engine.reconcile(hexToBytes(f[2]))
          need.push(...r.need)
          if (r.next === undefined) return need.sort()
          cl.send(["NEG-MSG", sub, bytesToHex(r.next)])
        }
      }
      expect(await records(asOutsider)).toEqual([visible.id])
      expect(await records(asMember)).toEqual([secret.id, visible.id].sort())
      // Live: members get the group's new events, others do not.
      await req(asOutsider, "live", { kinds: [9], since: now() - 5 })
      await req(asMember, "live", { kinds: [9], since: now() - 5 })
      const later = ev(member, 9, id, [], "later")
      const marker = ev(member, 9, pub, [], "marker")
      await publishOk(c, later)
      await publishOk(c, marker)
      expect((await nextEvent(asMember, "live")).id).toBe(later.id)
      expect((await nextEvent(asMember, "live")).id).toBe(marker.id)
      expect((await nextEvent(asOutsider, "live")).id).toBe(marker.id)
      // Hidden: the state events only for members.
      expect(await state(anon, doc.self, 39000, pub)).toBeDefined()
      expect(await reqClosed(anon, "meta", { kinds: [39000], "#d": [id] })).toMatch(/^auth-required: /)
      expect(await reqClosed(asOutsider, "meta", { kinds: [39000, 39001], "#d": [id] })).toMatch(/^restricted: /)
      expect((await req(asOutsider, "all", { kinds: [39000], authors: [doc.self] })).events.map((e) => e.tags[0]![1])).not.toContain(id)
      expect((await state(asMember, doc.self, 39000, id))?.tags).toContainEqual(["hidden"])
      // Writing is not reading: a private group that is not restricted takes anyone's events.
      await publishOk(asOutsider, ev(outsider, 9, id, [], "from outside"))
    })

    it("subgroups: parent and child tags kept consistent, cycles and unknown parents refused, children become roots when a parent is deleted", async () => {
      const relay = await relays.start({})
      const doc = await info(relay)
      const owner = newKey()
      const other = newKey()
      const c = await as(relay, owner)
      const anon = await relays.open(relay)
      const tech = await group(c, owner, gid("tech"))
      const social = await group(c, owner, gid("social"))
      const nostr = await group(c, owner, gid("nostr"))
      const nip29 = await group(c, owner, gid("nip29"))
      const meta = async (id: string) => (await state(anon, doc.self, 39000, id))!.tags.filter((t) => t[0] !== "d")

      await publishOk(c, ev(owner, 9002, nostr, [["name", "Nostr"], ["parent", tech]]))
      await publishOk(c, ev(owner, 9002, nip29, [["name", "NIP-29"], ["parent", nostr]]))
      expect(await meta(nostr)).toEqual([["name", "Nostr"], ["parent", tech], ["child", nip29]])
      expect(await meta(tech)).toEqual([["child", nostr]])

      // Refused: cycles (self included), unknown parents, two parents, a parent one is not admin of.
      expect((await publish(c, ev(owner, 9002, tech, [["parent", nip29], ["child", nostr]]))).message).toMatch(/^invalid: .*subgroup/)
      expect((await publish(c, ev(owner, 9002, tech, [["parent", tech], ["child", nostr]]))).message).toMatch(/^invalid: .*own parent/)
      expect((await publish(c, ev(owner, 9002, nip29, [["parent", gid("missing")]]))).message).toMatch(/^invalid: .*no group/)
      expect((await publish(c, ev(owner, 9002, nip29, [["parent", tech], ["parent", social]]))).message).toMatch(/^invalid: .*at most one parent/)
      const foreign = await group(await as(relay, other), other, gid("foreign"))
      expect((await publish(c, ev(owner, 9002, nip29, [["parent", foreign]]))).message).toMatch(/^restricted: .*admin of/)
      // An edit must list every child; the list sets their order.
      expect((await publish(c, ev(owner, 9002, nostr, [["name", "Nostr"], ["parent", tech]]))).message).toMatch(/^invalid: .*children/)
      const tools = await group(c, owner, gid("tools"))
      await publishOk(c, ev(owner, 9002, tools, [["parent", tech]]))
      expect(await meta(tech)).toEqual([["child", nostr], ["child", tools]])
      await publishOk(c, ev(owner, 9002, tech, [["name", "Tech"], ["child", tools], ["child", nostr]]))
      expect(await meta(tech)).toEqual([["name", "Tech"], ["child", tools], ["child", nostr]])
      expect((await publish(c, ev(owner, 9002, tech, [["child", tools], ["child", nostr], ["child", social]]))).message).toMatch(/^invalid: .*not a subgroup/)

      // Moving: both parents updated. Detaching: a root.
      await publishOk(c, ev(owner, 9002, nostr, [["name", "Nostr"], ["parent", social], ["child", nip29]]))
      expect(await meta(tech)).toEqual([["name", "Tech"], ["child", tools]])
      expect(await meta(social)).toEqual([["child", nostr]])
      await publishOk(c, ev(owner, 9002, tools, []))
      expect(await meta(tools)).toEqual([])
      expect(await meta(tech)).toEqual([["name", "Tech"]])

      // Deleting a parent makes its children roots.
      await publishOk(c, ev(owner, 9008, social))
      expect(await state(anon, doc.self, 39000, social)).toBeUndefined()
      expect(await meta(nostr)).toEqual([["name", "Nostr"], ["child", nip29]])
    })

    it("delete-group removes the group, its events and its state; the id is free again", async () => {
      const relay = await relays.start({})
      const doc = await info(relay)
      const owner = newKey()
      const c = await as(relay, owner)
      const anon = await relays.open(relay)
      const id = await group(c, owner, gid("doomed"), [["private"]])
      const msg = ev(owner, 9, id, [], "soon gone")
      await publishOk(c, msg)
      expect((await publish(c, ev(newKey(), 9008, id))).message).toMatch(/^restricted: /)
      await publishOk(c, ev(owner, 9008, id, [], "closing"))
      expect((await req(c, "left", { "#h": [id] })).events).toEqual([])
      expect((await req(anon, "left", { ids: [msg.id] })).events).toEqual([])
      for (const k of [39000, 39001, 39002, 39003, 39005]) expect(await state(anon, doc.self, k, id), String(k)).toBeUndefined()
      expect((await publish(c, ev(owner, 9, id))).message).toMatch(/^invalid: .*no group/)
      // Created again, it starts afresh.
      await publishOk(c, ev(owner, 9007, id))
      expect((await state(anon, doc.self, 39000, id))?.tags).toEqual([["d", id]])
    })

    it("operators: NIP-86 listgroups, deletegroup, addgroupadmin, removegroupadmin", async () => {
      const admin = newKey()
      const relay = await relays.start({ adminPubkeys: [admin.pk] })
      const doc = await info(relay)
      const owner = newKey()
      const helper = newKey()
      const c = await as(relay, owner)
      const anon = await relays.open(relay)
      const id = await group(c, owner, gid("ops"), [["name", "Ops"], ["closed"]])
      const gone = await group(c, owner, gid("gone"))
      const listed = (await rpc(relay.httpUrl, admin, "listgroups")).body.result as Array<{ id: string }>
      expect(listed.find((g) => g.id === id)).toEqual({
        id,
        name: "Ops",
        private: false,
        restricted: false,
        hidden: false,
        closed: true,
        parent: null,
        children: [],
        members: 1,
        admins: [{ pubkey: owner.pk, roles: ["admin"] }]
      })
      expect((await rpc(relay.httpUrl, admin, "addgroupadmin", [id, helper.pk])).body).toEqual({ result: true })
      expect((await rpc(relay.httpUrl, admin, "addgroupadmin", [id, owner.pk, "moderator"])).body).toEqual({ result: true })
      expect(pOf(await state(anon, doc.self, 39001, id))).toEqual([[owner.pk, "moderator"], [helper.pk, "admin"]])
      // The relay's own 9000 keeps the history (the creator's, then these two).
      expect((await req(anon, "put", { kinds: [9000], authors: [doc.self], "#h": [id] })).events.length).toBe(3)
      expect((await rpc(relay.httpUrl, admin, "removegroupadmin", [id, helper.pk])).body).toEqual({ result: true })
      expect(pOf(await state(anon, doc.self, 39001, id))).toEqual([[owner.pk, "moderator"]])
      expect(pOf(await state(anon, doc.self, 39002, id)).map((p) => p[0])).toContain(helper.pk)
      expect((await rpc(relay.httpUrl, admin, "addgroupadmin", [gid("none"), helper.pk])).body.error).toMatch(/no group/)
      expect((await rpc(relay.httpUrl, admin, "deletegroup", [gone])).body).toEqual({ result: true })
      expect((await rpc(relay.httpUrl, admin, "deletegroup", [gone])).body).toEqual({ result: false })
      expect((await state(anon, doc.self, 39000, gone))).toBeUndefined()
      expect(((await rpc(relay.httpUrl, admin, "supportedmethods")).body.result as Array<string>)).toEqual(
        expect.arrayContaining(["listgroups", "deletegroup", "addgroupadmin", "removegroupadmin"])
      )
    })

    it("group counts on the status page (/stats) and in /metrics", async () => {
      const relay = await relays.start({})
      const owner = newKey()
      const c = await as(relay, owner)
      const a = await group(c, owner, gid("count-a"))
      await group(c, owner, gid("count-b"))
      await publishOk(c, ev(owner, 9000, a, [["p", newKey().pk]]))
      const stats = (await (await fetch(`${relay.httpUrl}/stats`)).json()) as { groups: number; groupMembers: number }
      // (The postgres suite's database holds the groups of the file's earlier tests too.)
      const before = { groups: stats.groups - 2, groupMembers: stats.groupMembers - 3 }
      expect(before.groups).toBeGreaterThanOrEqual(0)
      expect(before.groupMembers).toBeGreaterThanOrEqual(0)
      const metrics = await (await fetch(`${relay.httpUrl}/metrics`)).text()
      expect(metrics).toContain(`parrhesia_groups ${stats.groups}`)
      expect(metrics).toContain(`parrhesia_group_members ${stats.groupMembers}`)
      const page = await (await fetch(relay.httpUrl, { headers: { accept: "text/html" } })).text()
      expect(page).toContain("groups (NIP-29)")
      await publishOk(c, ev(owner, 9008, a))
      expect(((await (await fetch(`${relay.httpUrl}/stats`)).json()) as { groups: number }).groups).toBe(stats.groups - 1)
    })

    it("groups off: no rules, no NIP-29 in NIP-11", async () => {
      const relay = await relays.start({ groups: false })
      const doc = await info(relay)
      expect(doc.supported_nips).not.toContain(29)
      expect(doc.nip29).toBeUndefined()
      const c = await relays.open(relay)
      const k = newKey()
      await publishOk(c, ev(k, 9, gid("anything")))
      await publishOk(c, makeEvent({ kind: 39000, created_at: now(), tags: [["d", "x"]] }, k))
    })
  })
