/**
 * NIP-45 `hll` in COUNT answers end to end, checked against a reference
 * written from the NIP (test/support/hll.ts); one suite for every store.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { makeEvent, newKey, type Key } from "../support/nostr.ts"
import { mergeHll, referenceHll, referenceOffset } from "../support/hll.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { forSub, now, publishOk, type RawClient } from "../support/ws.ts"

export const hllSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-45 HyperLogLog (${name} store)`, () => {
    const relays = useRelays(start)
    const count = async (c: RawClient, ...filters: ReadonlyArray<unknown>) => {
      const id = `c${Math.random().toString(36).slice(2, 8)}`
      c.send(["COUNT", id, ...filters])
      return (await c.next(forSub(id, "COUNT", "CLOSED")))[2] as { count: number; hll?: string }
    }
    const react = async (c: RawClient, keys: ReadonlyArray<Key>, target: string) => {
      for (const k of keys) await publishOk(c, makeEvent({ kind: 7, created_at: now(), tags: [["e", target]], content: "+" }, k))
    }

    it("answers reaction and follower counts with the registers the NIP prescribes", async () => {
      const relay = await relays.start()
      const c = await relays.open(relay)
      const target = makeEvent({ created_at: now() - 10 })
      await publishOk(c, target)
      const keys = Array.from({ length: 40 }, () => newKey())
      await react(c, keys, target.id)
      // Noise the filter must not count: another kind on the same target, and reactions elsewhere.
      await publishOk(c, makeEvent({ kind: 1, created_at: now(), tags: [["e", target.id]] }))
      await react(c, keys.slice(0, 3), "f".repeat(64))
      const answer = await count(c, { "#e": [target.id], kinds: [7] })
      expect(answer.count).toBe(40)
      expect(answer.hll).toBe(referenceHll(keys.map((k) => k.pk), referenceOffset(target.id)))

      const followed = newKey()
      const followers = Array.from({ length: 12 }, () => newKey())
      for (const f of followers) await publishOk(c, makeEvent({ kind: 3, created_at: now(), tags: [["p", followed.pk]] }, f))
      const follows = await count(c, { "#p": [followed.pk], kinds: [3] })
      expect(follows).toEqual({ count: 12, hll: referenceHll(followers.map((k) => k.pk), referenceOffset(followed.pk)) })

      // A tag value that is neither an id nor an address: its SHA-256 decides the offset.
      const tagged = Array.from({ length: 5 }, () => newKey())
      for (const k of tagged) await publishOk(c, makeEvent({ created_at: now(), tags: [["t", "nostr-hll"]] }, k))
      expect((await count(c, { "#t": ["nostr-hll"] })).hll).toBe(referenceHll(tagged.map((k) => k.pk), referenceOffset("nostr-hll")))
    })

    it("gives no hll where the NIP does not define one: no tag attribute, several filters; an empty match has zero registers", async () => {
      const relay = await relays.start()
      const c = await relays.open(relay)
      const k = newKey()
      await publishOk(c, makeEvent({ created_at: now() }, k))
      expect(await count(c, { authors: [k.pk] })).toEqual({ count: 1 })
      expect(await count(c, { "#e": ["a".repeat(64)] }, { authors: [k.pk] })).toEqual({ count: 1 })
      expect(await count(c, { "#e": ["b".repeat(64)], kinds: [7] })).toEqual({ count: 0, hll: "00".repeat(256) })
    })

    it("registers from two relays merge to the estimate of the union", async () => {
      const a = await relays.start()
      const b = await relays.start()
      const ca = await relays.open(a)
      const cb = await relays.open(b)
      const target = "c".repeat(32) + "3" + "d".repeat(31)
      const keys = Array.from({ length: 50 }, () => newKey())
      await react(ca, keys.slice(0, 30), target)
      await react(cb, keys.slice(20), target)
      const ha = (await count(ca, { "#e": [target], kinds: [7] })).hll!
      const hb = (await count(cb, { "#e": [target], kinds: [7] })).hll!
      expect(mergeHll(ha, hb)).toBe(referenceHll(keys.map((k) => k.pk), referenceOffset(target)))
    })
  })
