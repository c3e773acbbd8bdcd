/**
 * NIP-43 relay membership end to end: invites for members, join with a claim
 * (once, before it expires), leave, the relay-signed member list and
 * add/remove events, members-only mode, and the NIP-86 methods; one suite
 * for every store.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { rpc } from "../support/nip98.ts"
import type { TestRelay } from "../support/relay.ts"
import { authenticate } from "../support/auth.ts"
import { useRelays } from "../support/relays.ts"
import { now, publish, publishOk, req, reqClosed, type RawClient } from "../support/ws.ts"

export const membershipSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-43 membership (${name} store)`, () => {
    const relays = useRelays(start)
    const admin = newKey()
    const authAs = (c: RawClient, relay: TestRelay, key: Key) => authenticate(c, relay.url, key)
    const member = async (relay: TestRelay, key: Key) => {
      const c = await relays.open(relay)
      await authAs(c, relay, key)
      return c
    }
    const join = (key: Key, claim: string | undefined, created_at = now()) =>
      makeEvent({ kind: 28934, created_at, tags: [["-"], ...(claim === undefined ? [] : [["claim", claim]])], content: "" }, key)
    const selfOf = async (relay: TestRelay) =>
      ((await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { self: string; supported_nips: Array<number> })

    it("admins add members; members get invites; a claim joins once; leaving works; the relay signs every change", async () => {
      const relay = await relays.start({ nip43: true, adminPubkeys: [admin.pk], relaySecretKey: newKey().pk })
      const doc = await selfOf(relay)
      expect(doc.supported_nips).toContain(43)
      const alice = newKey()
      expect((await rpc(relay.httpUrl, admin, "addmember", [alice.pk])).body).toEqual({ result: true })

      // Invites: members only.
      const anon = await relays.open(relay)
      expect(await reqClosed(anon, "inv", { kinds: [28935] })).toMatch(/^auth-required: /)
      const stranger = await member(relay, newKey())
      expect(await reqClosed(stranger, "inv", { kinds: [28935] })).toMatch(/^restricted: /)
      const asAlice = await member(relay, alice)
      const invite = (await req(asAlice, "inv", { kinds: [28935] })).events[0] as NostrEvent
      expect(invite.pubkey).toBe(doc.self)
      expect(invite.tags).toContainEqual(["-"])
      const claim = invite.tags.find((t) => t[0] === "claim")![1]!

      // Bob joins with it (a protected event: he authenticates first); the claim works once.
      const bob = newKey()
      const asBob = await member(relay, bob)
      const joined = await publish(asBob, join(bob, claim))
      expect(joined).toMatchObject({ accepted: true, message: expect.stringMatching(/^info: welcome/) })
      expect(await publish(asBob, join(bob, claim))).toMatchObject({ accepted: true, message: expect.stringMatching(/^duplicate: /) })
      const carol = newKey()
      const asCarol = await member(relay, carol)
      expect(await publish(asCarol, join(carol, claim))).toMatchObject({ accepted: false, message: expect.stringMatching(/^restricted: .*invalid/) })
      expect(await publish(asCarol, join(carol, "made-up"))).toMatchObject({ accepted: false, message: expect.stringMatching(/^restricted: /) })
      expect(await publish(asCarol, join(carol, undefined))).toMatchObject({ accepted: false, message: expect.stringMatching(/^restricted: /) })
      expect((await publish(asCarol, join(carol, "x", now() - 3600))).message).toMatch(/^invalid: /)
      // Join requests are answered, never stored or served (they carry a secret).
      expect((await req(anon, "j", { kinds: [28934] })).events).toEqual([])

      // The relay's signed list and add events.
      const list = (await req(anon, "list", { kinds: [13534], authors: [doc.self] })).events
      expect(list.length).toBe(1)
      expect(list[0]!.tags.filter((t) => t[0] === "member").map((t) => t[1]).sort()).toEqual([alice.pk, bob.pk].sort())
      const adds = (await req(anon, "adds", { kinds: [8000], authors: [doc.self] })).events
      expect(adds.map((e) => e.tags.find((t) => t[0] === "p")![1]).sort()).toEqual([alice.pk, bob.pk].sort())

      // Bob leaves.
      await publishOk(asBob, makeEvent({ kind: 28936, created_at: now(), tags: [["-"]], content: "" }, bob))
      const after = (await req(anon, "list2", { kinds: [13534], authors: [doc.self] })).events[0]!
      expect(after.tags.filter((t) => t[0] === "member").map((t) => t[1])).toEqual([alice.pk])
      expect((await req(anon, "rm", { kinds: [8001], authors: [doc.self] })).events.map((e) => e.tags.find((t) => t[0] === "p")![1])).toEqual([bob.pk])
      expect((await rpc(relay.httpUrl, admin, "listmembers")).body.result).toEqual([{ pubkey: alice.pk, roles: [], listed: null }])
    })

    it("roles: the relay signs each definition (33534) and lists members with their roles (13534)", async () => {
      const relay = await relays.start({ nip43: true, adminPubkeys: [admin.pk], relaySecretKey: newKey().pk })
      const doc = await selfOf(relay)
      const anon = await relays.open(relay)
      const king = ["28b7e50f", "king", "ruler of the relay", "37", "1"]
      expect((await rpc(relay.httpUrl, admin, "setmemberrole", king)).body).toEqual({ result: true })
      expect((await rpc(relay.httpUrl, admin, "setmemberrole", ["scribe"])).body).toEqual({ result: true })
      expect((await rpc(relay.httpUrl, admin, "setmemberrole", ["bad id!"])).body.error).toMatch(/role id/)
      expect((await rpc(relay.httpUrl, admin, "setmemberrole", ["x", "", "", "400"])).body.error).toMatch(/hue/)
      const defs = (await req(anon, "roles", { kinds: [33534], authors: [doc.self] })).events
      const byD = Object.fromEntries(defs.map((e) => [e.tags.find((t) => t[0] === "d")![1], e]))
      expect(byD["28b7e50f"]!.tags).toEqual([["-"], ["d", "28b7e50f"], ["label", "king"], ["description", "ruler of the relay"], ["color", "37"], ["order", "1"]])
      expect(byD["scribe"]!.tags).toEqual([["-"], ["d", "scribe"]])
      expect((await rpc(relay.httpUrl, admin, "listmemberroles")).body.result).toEqual([
        { id: "28b7e50f", label: "king", description: "ruler of the relay", color: "37", order: "1" },
        { id: "scribe", label: "", description: "", color: "", order: "" }
      ])

      const alice = newKey()
      const bob = newKey()
      expect((await rpc(relay.httpUrl, admin, "addmember", [alice.pk, "28b7e50f", "scribe"])).body).toEqual({ result: true })
      expect((await rpc(relay.httpUrl, admin, "addmember", [bob.pk])).body).toEqual({ result: true })
      expect((await rpc(relay.httpUrl, admin, "addmember", [bob.pk, "nobody"])).body.error).toMatch(/no role nobody/)
      // (The postgres suite's database is shared by this file's tests: only alice and bob are looked at.)
      const memberTags = async () =>
        (await req(anon, `l${Math.random()}`, { kinds: [13534], authors: [doc.self] })).events[0]!.tags
          .filter((t) => t[0] === "member" && (t[1] === alice.pk || t[1] === bob.pk))
          .sort()
      expect(await memberTags()).toEqual([["member", alice.pk, "28b7e50f", "scribe"], ["member", bob.pk]].sort())
      // A role change of an existing member is not a new member: one 8000 each.
      expect((await rpc(relay.httpUrl, admin, "addmember", [bob.pk, "scribe"])).body).toEqual({ result: true })
      expect((await req(anon, "adds", { kinds: [8000], authors: [doc.self], "#p": [alice.pk, bob.pk] })).events.length).toBe(2)
      expect(await memberTags()).toEqual([["member", alice.pk, "28b7e50f", "scribe"], ["member", bob.pk, "scribe"]].sort())

      // Removing a role takes it off its members and deletes its definition.
      expect((await rpc(relay.httpUrl, admin, "removememberrole", ["scribe"])).body).toEqual({ result: true })
      expect(await memberTags()).toEqual([["member", alice.pk, "28b7e50f"], ["member", bob.pk]].sort())
      expect((await req(anon, "roles2", { kinds: [33534], authors: [doc.self] })).events.map((e) => e.tags[1]![1])).toEqual(["28b7e50f"])
      expect((await rpc(relay.httpUrl, admin, "listmembers")).body.result).toEqual(
        expect.arrayContaining([{ pubkey: alice.pk, roles: ["28b7e50f"], listed: null }, { pubkey: bob.pk, roles: [], listed: null }])
      )
    })

    it("a member's own 10010 is consulted beside the relay's list: listmembers says whether it names this relay", async () => {
      const relay = await relays.start({ nip43: true, membersOnly: "writes", adminPubkeys: [admin.pk], relaySecretKey: newKey().pk })
      const [stays, elsewhere, silent] = [newKey(), newKey(), newKey()]
      for (const k of [stays, elsewhere, silent]) expect((await rpc(relay.httpUrl, admin, "addmember", [k.pk])).body).toEqual({ result: true })
      const c = await relays.open(relay)
      await publishOk(c, makeEvent({ kind: 10010, created_at: now(), tags: [["relay", `${relay.url}/`], ["relay", "wss://other.example"]] }, stays))
      await publishOk(c, makeEvent({ kind: 10010, created_at: now(), tags: [["r", "wss://other.example"]] }, elsewhere))
      const listed = (await rpc(relay.httpUrl, admin, "listmembers")).body.result as Array<{ pubkey: string; listed: boolean | null }>
      const of = (k: { pk: string }) => listed.find((m) => m.pubkey === k.pk)?.listed
      expect([of(stays), of(elsewhere), of(silent)]).toEqual([true, false, null])
      // A non-member's 10010 claims nothing on a members-only relay: refused like its other events.
      expect((await publish(c, makeEvent({ kind: 10010, created_at: now(), tags: [["relay", relay.url]] }, newKey()))).message).toMatch(/^restricted: /)
    })

    it("members-only: writes and reads depend on membership", async () => {
      const relay = await relays.start({ nip43: true, membersOnly: "all", adminPubkeys: [admin.pk], relaySecretKey: newKey().pk })
      const m = newKey()
      expect((await rpc(relay.httpUrl, admin, "addmember", [m.pk])).body).toEqual({ result: true })
      const outsider = newKey()
      const c = await member(relay, outsider)
      expect((await publish(c, makeEvent({ created_at: now() }, outsider))).message).toMatch(/^restricted: /)
      expect(await reqClosed(c, "r", { kinds: [1] })).toMatch(/^restricted: /)
      const anon = await relays.open(relay)
      expect(await reqClosed(anon, "r", { kinds: [1] })).toMatch(/^auth-required: /)
      const asMember = await member(relay, m)
      const e = makeEvent({ created_at: now() }, m)
      await publishOk(asMember, e)
      expect((await req(asMember, "r", { ids: [e.id] })).events.map((x) => x.id)).toEqual([e.id])
      expect((await rpc(relay.httpUrl, admin, "removemember", [m.pk])).body).toEqual({ result: true })
      expect((await publish(asMember, makeEvent({ created_at: now() }, m))).message).toMatch(/^restricted: /)
    })
  })
