/**
 * NIP-17 / NIP-59 privacy end to end: gift wraps from one-time keys, served
 * only to their recipient whatever the filter (id, kind, time, live, COUNT),
 * optional AUTH or proof of work to publish them, kind 10050 replaceable,
 * and NIP-11; one suite for every store.
 */
import { finalizeEvent } from "nostr-tools/pure"
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { powDifficulty, type NostrEvent } from "../../src/nostr/index.ts"
import { idsOf, makeEvent, newKey, type Key } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { authenticate } from "../support/auth.ts"
import { useRelays } from "../support/relays.ts"
import { forSub, nextEvent, now, publish, publishOk, req, type RawClient } from "../support/ws.ts"

export const giftWrapSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-17/59 gift wraps (${name} store)`, () => {
    const relays = useRelays(start)
    const authAs = (c: RawClient, relay: TestRelay, key: Key) => authenticate(c, relay.url, key)
    const wrapFor = (recipient: Key, created_at = now() - 5) => makeEvent({ kind: 1059, created_at, tags: [["p", recipient.pk]], content: "ciphertext" })
    const count = async (c: RawClient, filter: Record<string, unknown>) => {
      const id = `c${Math.random().toString(36).slice(2, 8)}`
      c.send(["COUNT", id, filter])
      return ((await c.next(forSub(id, "COUNT")))[2] as { count: number }).count
    }

    it("accepts wraps from one-time keys and serves them only to the recipient, however the filter reaches them", async () => {
      const relay = await relays.start()
      const bob = newKey()
      const carol = newKey()
      const base = 1_650_000_000 + Math.floor(Math.random() * 1_000_000) * 10
      const wrap = wrapFor(bob, base)
      const writer = await relays.open(relay)
      await publishOk(writer, wrap)
      const asBob = await relays.open(relay)
      await authAs(asBob, relay, bob)
      const asCarol = await relays.open(relay)
      await authAs(asCarol, relay, carol)
      const byTime = { since: base, until: base }
      for (const [filter, label] of [[{ ids: [wrap.id] }, "id"], [{ kinds: [1059] }, "kind"], [byTime, "time"], [{ "#p": [bob.pk] }, "p tag"]] as const) {
        expect(idsOf((await req(asBob, `b${label}`, filter)).events), label).toEqual([wrap.id])
        expect(idsOf((await req(asCarol, `c${label}`, filter)).events), label).toEqual([])
      }
      expect(await count(asBob, byTime)).toBe(1)
      expect(await count(asCarol, byTime)).toBe(0)
      expect(await count(writer, byTime)).toBe(0)

      // Live: Bob's kinds-only subscription gets the next wrap; Carol's catch-all does not.
      await req(asBob, "live", { kinds: [1059] })
      await req(asCarol, "live", {})
      const next = wrapFor(bob, now())
      await publishOk(writer, next)
      expect((await nextEvent(asBob, "live")).id).toBe(next.id)
      const sentinel = makeEvent({ created_at: now() })
      await publishOk(writer, sentinel)
      expect((await nextEvent(asCarol, "live")).id).toBe(sentinel.id)
    })

    it("can require AUTH or proof of work to publish wraps", async () => {
      const bob = newKey()
      const authed = await relays.start({ giftWrapAuth: true })
      const c = await relays.open(authed)
      expect((await publish(c, wrapFor(bob))).message).toMatch(/^auth-required: /)
      await publishOk(c, makeEvent({ created_at: now() }))
      await authAs(c, authed, newKey())
      await publishOk(c, wrapFor(bob))

      const mined = await relays.start({ giftWrapMinPow: 8 })
      const d = await relays.open(mined)
      let weak = wrapFor(bob)
      while (powDifficulty(weak.id) >= 8) weak = wrapFor(bob)
      expect((await publish(d, weak)).message).toMatch(/^pow: /)
      const oneTime = newKey()
      let strong: NostrEvent
      for (let n = 0; ; n++) {
        strong = finalizeEvent({ kind: 1059, created_at: now(), tags: [["p", bob.pk], ["nonce", String(n), "8"]], content: "c" }, oneTime.sk) as NostrEvent
        if (powDifficulty(strong.id) >= 8) break
      }
      await publishOk(d, strong)
      await publishOk(d, makeEvent({ created_at: now() }))
    })

    it("keeps the newest kind 10050 DM-relay list, and advertises 17 and 59 only with the privacy rule", async () => {
      const relay = await relays.start()
      const c = await relays.open(relay)
      const k = newKey()
      const older = makeEvent({ kind: 10050, created_at: now() - 10, tags: [["relay", "wss://a.example.com"]] }, k)
      const newer = makeEvent({ kind: 10050, created_at: now() - 5, tags: [["relay", "wss://b.example.com"]] }, k)
      await publishOk(c, older)
      await publishOk(c, newer)
      expect(idsOf((await req(c, "l", { kinds: [10050], authors: [k.pk] })).events)).toEqual([newer.id])
      expect((await publish(c, older)).accepted).toBe(false)
      const nips = async (r: TestRelay) =>
        ((await (await fetch(r.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as { supported_nips: Array<number> }).supported_nips
      expect(await nips(relay)).toEqual(expect.arrayContaining([17, 59]))
      const open = await relays.start({ restrictedReadKinds: [] })
      expect(await nips(open)).not.toContain(59)
      expect(await nips(open)).not.toContain(17)
    })
  })
