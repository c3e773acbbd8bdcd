/**
 * A whole NIP-29 group session through nostr-tools' `nip29` helpers and its
 * SimplePool, as a client app would run it: create (after the relay's
 * auth-required:, through onauth), edit, invite, join with the code, post
 * with timeline references, moderate (roles, delete, pins), leave, and
 * `loadGroup` (with the relay's NIP-11 fetched by nostr-tools) reading it all
 * back; one suite for every store.
 */
import * as nip29 from "nostr-tools/nip29"
import { SimplePool } from "nostr-tools/pool"
import { finalizeEvent, generateSecretKey, getPublicKey, type EventTemplate } from "nostr-tools/pure"
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"

export const nostrToolsGroupSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`nostr-tools nip29 session (${name} store)`, () => {
    const relays = useRelays(start)

    it("create, edit, invite, join with the code, post, moderate, leave; loadGroup reads it all back", async () => {
      const relay = await relays.start({})
      const pool = new SimplePool()
      try {
        const alice = generateSecretKey()
        const bob = generateSecretKey()
        const carol = generateSecretKey()
        const A = getPublicKey(alice)
        const B = getPublicKey(bob)
        const C = getPublicKey(carol)
        const publish = async (t: EventTemplate, sk: Uint8Array) => {
          const e = finalizeEvent(t, sk)
          const [r] = await Promise.allSettled(pool.publish([relay.url], e, { onauth: async (a) => finalizeEvent(a, sk) }))
          if (r!.status === "rejected") throw new Error(`refused: ${String(r!.reason)}`)
          return e
        }
        const refused = async (t: EventTemplate, sk: Uint8Array) => {
          const [r] = await Promise.allSettled(pool.publish([relay.url], finalizeEvent(t, sk)))
          return r!.status === "rejected" ? String(r!.reason) : "accepted"
        }
        const id = `tools-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
        const reference = { id, host: relay.url }

        // Alice creates the group (the relay asks for AUTH first; onauth answers) and edits it.
        await publish(nip29.generateCreateGroupEventTemplate(id, "our place"), alice)
        const group: nip29.Group = {
          relay: relay.url,
          reference,
          metadata: { id, pubkey: "", name: "Pizza Lovers", about: "a group for people who love pizza", picture: "https://pizza.example/p.png", isClosed: true }
        }
        const edit = await publish(nip29.generateEditGroupMetadataEventTemplate(group, "naming it"), alice)
        // Closed: no join without a code.
        expect(await refused(nip29.generateGroupJoinRequestEventTemplate(id, undefined, "let me in"), bob)).toMatch(/restricted: .*closed/)
        await publish(nip29.generateCreateInviteEventTemplate(id, "pizza-party"), alice)
        await publish(nip29.generateGroupJoinRequestEventTemplate(id, "pizza-party", "hi!"), bob)

        // Bob posts in context; a made-up reference is refused.
        const post = await publish({ kind: 9, created_at: Math.floor(Date.now() / 1000), content: "margherita!", tags: [["h", id], ["previous", edit.id.slice(0, 8)]] }, bob)
        expect(await refused({ kind: 9, created_at: Math.floor(Date.now() / 1000), content: "out of context", tags: [["h", id], ["previous", "deadbeef"]] }, bob)).toMatch(/invalid: unknown timeline/)
        const spam = await publish({ kind: 9, created_at: Math.floor(Date.now() / 1000), content: "pineapple!!!", tags: [["h", id]] }, bob)

        // Alice moderates: Carol becomes a moderator, the spam goes, Bob's post is pinned.
        await publish(nip29.generatePutUserEventTemplate(id, C, ["moderator"], "helping out"), alice)
        await publish(nip29.generateDeleteEventEventTemplate(id, spam.id, "no pineapple"), carol)
        await publish(nip29.generateUpdatePinListEventTemplate(id, [{ type: "e", value: post.id }]), carol)
        // Bob, a plain member, may not moderate.
        expect(await refused(nip29.generateRemoveUserEventTemplate(id, C), bob)).toMatch(/restricted: /)
        // Bob leaves.
        await publish(nip29.generateGroupLeaveRequestEventTemplate(id, "full"), bob)

        // loadGroup: the relay's NIP-11 (fetched by nostr-tools), then 39000, 39001, 39002.
        const loaded = await nip29.loadGroup({ pool, groupReference: reference })
        expect(loaded.metadata).toMatchObject({ id, name: "Pizza Lovers", about: "a group for people who love pizza", picture: "https://pizza.example/p.png", isClosed: true })
        expect(loaded.metadata.isPrivate).toBeUndefined()
        expect(loaded.admins).toEqual([
          { pubkey: A, label: "admin", permissions: [] },
          { pubkey: C, label: "moderator", permissions: [] }
        ])
        expect(loaded.members?.map((m) => m.pubkey)).toEqual([A, C])
        const info = await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()
        const pins = nip29.parseGroupPinnedEventsEvent(await nip29.fetchGroupPinnedEventsEvent({ pool, groupReference: reference, relayInformation: info }))
        expect(pins).toEqual([{ type: "e", value: post.id }])
        const roles = nip29.parseGroupRolesEvent(await nip29.fetchGroupRolesEvent({ pool, groupReference: reference, relayInformation: info }))
        expect(roles.map((r) => r.name)).toEqual(["admin", "moderator"])
        // The history as a client reads it.
        const history = await pool.querySync([relay.url], { "#h": [id], kinds: [9, 9000, 9001, 9005, 9010, 9022] })
        expect(history.map((e) => e.id)).toContain(post.id)
        expect(history.map((e) => e.id)).not.toContain(spam.id)
        expect(history.filter((e) => e.kind === 9000 && e.pubkey === info.self).map((e) => e.tags.find((t) => t[0] === "p")![1]).sort()).toEqual([A, B].sort())
        expect(history.filter((e) => e.kind === 9001 && e.pubkey === info.self).map((e) => e.tags.find((t) => t[0] === "p")![1])).toEqual([B])
      } finally {
        pool.close([relay.url])
      }
    })
  })
