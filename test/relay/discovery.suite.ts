/**
 * NIP-66 end to end: monitors' 30166 / 10166 stored and served like any
 * addressable / replaceable event, and the relay's own signed description;
 * one suite for every store.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"
import { idsOf, makeEvent, newKey } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { nextEvent, now, publish, publishOk, req } from "../support/ws.ts"

export const discoverySuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-66 relay discovery (${name} store)`, () => {
    const relays = useRelays(start)

    it("stores monitors' discovery events as addressable and their announcements as replaceable", async () => {
      const relay = await relays.start()
      const c = await relays.open(relay)
      const monitor = newKey()
      const d = `wss://watched-${Math.random().toString(36).slice(2)}.example.com/`
      const v1 = makeEvent({ kind: 30166, created_at: now() - 20, tags: [["d", d], ["rtt-open", "200"], ["N", "1"]] }, monitor)
      const v2 = makeEvent({ kind: 30166, created_at: now() - 10, tags: [["d", d], ["rtt-open", "150"], ["N", "1"]] }, monitor)
      const other = makeEvent({ kind: 30166, created_at: now() - 10, tags: [["d", "wss://other.example.com/"]] }, monitor)
      for (const e of [v1, v2, other]) await publishOk(c, e)
      expect(idsOf((await req(c, "d", { kinds: [30166], "#d": [d] })).events)).toEqual([v2.id])
      expect((await publish(c, v1)).accepted).toBe(false)
      const a1 = makeEvent({ kind: 10166, created_at: now() - 5, tags: [["frequency", "3600"], ["c", "open"]] }, monitor)
      const a2 = makeEvent({ kind: 10166, created_at: now() - 1, tags: [["frequency", "600"], ["c", "open"]] }, monitor)
      await publishOk(c, a1)
      await publishOk(c, a2)
      expect(idsOf((await req(c, "a", { kinds: [10166], authors: [monitor.pk] })).events)).toEqual([a2.id])
    })

    it("with publishSelfDescription, describes itself in a 30166 signed by its NIP-11 self", async () => {
      const relay = await relays.start({ publishSelfDescription: true, relaySecretKey: newKey().pk })
      const doc = (await (await fetch(relay.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as {
        self: string
        name: string
        supported_nips: Array<number>
      }
      expect(doc.self).toMatch(/^[0-9a-f]{64}$/)
      expect(doc.supported_nips).toContain(66)
      const c = await relays.open(relay)
      const stored = await req(c, "self", { kinds: [30166], authors: [doc.self] })
      const e: NostrEvent = stored.events[0] ?? (await nextEvent(c, "self", 15_000))
      const tag = (n: string) => e.tags.filter((t) => t[0] === n).map((t) => t[1])
      expect(tag("d")).toEqual([`${relay.url}/`])
      expect(tag("N")).toEqual(expect.arrayContaining(["1", "11", "42", "66"]))
      expect(tag("R")).toEqual(expect.arrayContaining(["!auth", "!payment"]))
      expect(Number(tag("rtt-open")[0])).toBeGreaterThanOrEqual(0)
      expect(Number(tag("rtt-read")[0])).toBeGreaterThanOrEqual(0)
      expect(JSON.parse(e.content)).toMatchObject({ name: doc.name })
      // Nothing signed by the relay: no self (NIP-29 groups, on by default, sign their state).
      const off = await relays.start({ groups: false })
      const offDoc = (await (await fetch(off.httpUrl, { headers: { accept: "application/nostr+json" } })).json()) as Record<string, unknown>
      expect(offDoc["self"]).toBeUndefined()
    })
  })
