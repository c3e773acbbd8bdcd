/**
 * NIP-09 deletion requests and NIP-62 requests to vanish, end to end over raw
 * frames; one suite for every store (requests.memory.test.ts,
 * postgres/requests.postgres.test.ts).
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { idsOf, makeEvent, newKey, type Key } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { now, publish, publishOk, req, type RawClient } from "../support/ws.ts"

export const requestsSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`deletion and vanish requests (${name} store)`, () => {
    const relays = useRelays(start)
    let relay: TestRelay
    const client = async () => {
      relay ??= await relays.start()
      return relays.open(relay)
    }
    const ids = async (c: RawClient, filter: Record<string, unknown>) => idsOf((await req(c, `q${Math.random()}`, filter)).events)
    const deletion = (key: Key, tags: ReadonlyArray<ReadonlyArray<string>>, created_at = now()) =>
      makeEvent({ kind: 5, created_at, tags, content: "oops" }, key)

    describe("NIP-09", () => {
      it("deletes the author's own events by e tag; the request is stored and served; the deleted one cannot come back", async () => {
        const c = await client()
        const k = newKey()
        const a = makeEvent({ created_at: now() - 10 }, k)
        const b = makeEvent({ created_at: now() - 9 }, k)
        await publishOk(c, a)
        await publishOk(c, b)
        const del = deletion(k, [["e", a.id], ["k", "1"]])
        await publishOk(c, del)
        expect(await ids(c, { authors: [k.pk] })).toEqual([del.id, b.id])
        expect(await ids(c, { kinds: [5], authors: [k.pk] })).toEqual([del.id])
        const again = await publish(c, a)
        expect(again.accepted).toBe(false)
        expect(again.message).toMatch(/^blocked: /)
      })

      it("leaves other authors' events alone", async () => {
        const c = await client()
        const alice = newKey()
        const target = makeEvent({ created_at: now() - 5 }, alice)
        await publishOk(c, target)
        await publishOk(c, deletion(newKey(), [["e", target.id]]))
        expect(await ids(c, { ids: [target.id] })).toEqual([target.id])
      })

      it("applies a deletion that arrives before its target", async () => {
        const c = await client()
        const k = newKey()
        const later = makeEvent({ created_at: now() - 5 }, k)
        await publishOk(c, deletion(k, [["e", later.id]]))
        expect((await publish(c, later)).message).toMatch(/^blocked: /)
        expect(await ids(c, { ids: [later.id] })).toEqual([])
        // Another author's event with that id could not exist (ids are hashes over the pubkey); a fresh one is fine.
        await publishOk(c, makeEvent({ created_at: now() }, k))
      })

      it("deletes a replaceable event by id, and addressable versions by a tag up to the request's created_at", async () => {
        const c = await client()
        const k = newKey()
        const profile = makeEvent({ kind: 0, created_at: now() - 20 }, k)
        await publishOk(c, profile)
        await publishOk(c, deletion(k, [["e", profile.id]]))
        expect(await ids(c, { kinds: [0], authors: [k.pk] })).toEqual([])

        const t = now() - 10
        const article = makeEvent({ kind: 30023, created_at: t, tags: [["d", "post"]] }, k)
        await publishOk(c, article)
        await publishOk(c, deletion(k, [["a", `30023:${k.pk}:post`]], t + 1))
        expect(await ids(c, { kinds: [30023], authors: [k.pk] })).toEqual([])
        expect((await publish(c, makeEvent({ kind: 30023, created_at: t + 1, tags: [["d", "post"]] }, k))).message).toMatch(/^blocked: /)
        const newer = makeEvent({ kind: 30023, created_at: t + 2, tags: [["d", "post"]] }, k)
        await publishOk(c, newer)
        expect(await ids(c, { kinds: [30023], authors: [k.pk] })).toEqual([newer.id])
        // Another author's address in an a tag deletes nothing.
        const other = newKey()
        const theirs = makeEvent({ kind: 30023, created_at: t, tags: [["d", "post"]] }, other)
        await publishOk(c, theirs)
        await publishOk(c, deletion(k, [["a", `30023:${other.pk}:post`]], t + 5))
        expect(await ids(c, { authors: [other.pk] })).toEqual([theirs.id])
      })

      it("honours k tags, ignores malformed targets, and a deletion of a deletion has no effect", async () => {
        const c = await client()
        const k = newKey()
        const note = makeEvent({ created_at: now() - 10 }, k)
        await publishOk(c, note)
        await publishOk(c, deletion(k, [["e", note.id], ["k", "7"]]))
        expect(await ids(c, { ids: [note.id] })).toEqual([note.id])
        const junk = deletion(k, [["e", "not-an-id"], ["a", "garbage"], ["a", "1:nothex:x"], ["e"]])
        await publishOk(c, junk)
        expect(await ids(c, { ids: [note.id] })).toEqual([note.id])
        const first = deletion(k, [["e", note.id]], now() - 2)
        await publishOk(c, first)
        await publishOk(c, deletion(k, [["e", first.id]]))
        expect(await ids(c, { ids: [first.id] })).toEqual([first.id])
        expect(await ids(c, { ids: [note.id] })).toEqual([])
      })
    })

    describe("NIP-62", () => {
      const vanish = (key: Key, relayTag: string | undefined, created_at = now()) =>
        makeEvent({ kind: 62, created_at, tags: relayTag === undefined ? [] : [["relay", relayTag]], content: "bye" }, key)

      it("deletes everything of the pubkey up to the request, with its deletion requests and gift wraps to it; keeps and serves the request", async () => {
        const c = await client()
        const k = newKey()
        const t = now() - 100
        const note = makeEvent({ created_at: t }, k)
        const profile = makeEvent({ kind: 0, created_at: t + 1 }, k)
        const other = makeEvent({ created_at: t + 2 }, k)
        const del = deletion(k, [["e", other.id]], t + 3)
        const wrapBefore = makeEvent({ kind: 1059, created_at: t + 4, tags: [["p", k.pk]] })
        const unrelated = makeEvent({ created_at: t + 5 })
        for (const e of [note, profile, other, del, wrapBefore, unrelated]) await publishOk(c, e)
        const request = vanish(k, relay.url, t + 10)
        const wrapAfter = makeEvent({ kind: 1059, created_at: t + 20, tags: [["p", k.pk]] })
        await publishOk(c, wrapAfter)
        await publishOk(c, request)
        expect(await ids(c, { authors: [k.pk] })).toEqual([request.id])
        expect(await ids(c, { ids: [unrelated.id] })).toEqual([unrelated.id])
        // Gift wraps are private: look as their recipient.
        const asRecipient = await relays.open(relay)
        const challenge = (await asRecipient.next((f) => f[0] === "AUTH"))[1]
        const auth = makeEvent({ kind: 22242, created_at: now(), content: "", tags: [["relay", relay.url], ["challenge", challenge]] }, k)
        asRecipient.send(["AUTH", auth])
        await asRecipient.next((f) => f[0] === "OK" && f[1] === auth.id)
        expect(await ids(asRecipient, { kinds: [1059], "#p": [k.pk] })).toEqual([wrapAfter.id])
        for (const e of [note, profile, del, wrapBefore] as Array<NostrEvent>) {
          expect((await publish(c, e)).message, `kind ${e.kind}`).toMatch(/^blocked: /)
        }
        // Events of the pubkey the relay never had: refused when dated before the request, accepted after.
        expect((await publish(c, makeEvent({ created_at: t + 9 }, k))).message).toMatch(/^blocked: /)
        await publishOk(c, makeEvent({ created_at: now() }, k))
      })

      it("ALL_RELAYS counts as naming this relay", async () => {
        const c = await client()
        const k = newKey()
        const e = makeEvent({ created_at: now() - 5 }, k)
        await publishOk(c, e)
        await publishOk(c, vanish(k, "ALL_RELAYS"))
        expect(await ids(c, { ids: [e.id] })).toEqual([])
      })

      it("a request naming only other relays, or none, is refused and deletes nothing", async () => {
        const c = await client()
        const k = newKey()
        const e = makeEvent({ created_at: now() - 5 }, k)
        await publishOk(c, e)
        const elsewhere = await publish(c, vanish(k, "wss://other.example.com"))
        expect(elsewhere).toMatchObject({ accepted: false, message: expect.stringMatching(/^blocked: .*other relays/) })
        const none = await publish(c, vanish(k, undefined))
        expect(none).toMatchObject({ accepted: false, message: expect.stringMatching(/^invalid: .*relay/) })
        expect(await ids(c, { ids: [e.id] })).toEqual([e.id])
        await publishOk(c, makeEvent({ created_at: now() - 4 }, k))
      })
    })
  })
