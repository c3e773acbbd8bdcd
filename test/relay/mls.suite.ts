/**
 * NIP-EE (MLS kinds) behind the `nipEE` flag, end to end; one suite for every store.
 */
import { describe, expect, it } from "vitest"
import type { Settings } from "../../src/config/settings.ts"
import { idsOf, makeEvent, newKey } from "../support/nostr.ts"
import type { TestRelay } from "../support/relay.ts"
import { useRelays } from "../support/relays.ts"
import { nextEvent, now, publish, publishOk, req } from "../support/ws.ts"

export const mlsSuite = (name: string, start: (overrides: Partial<Settings>) => Promise<TestRelay>) =>
  describe(`NIP-EE MLS kinds (${name} store)`, () => {
    const relays = useRelays(start)

    it("are refused while the flag is off", async () => {
      const relay = await relays.start()
      const c = await relays.open(relay)
      for (const kind of [443, 445, 10051]) {
        expect((await publish(c, makeEvent({ kind, created_at: now(), tags: [["h", "g"]] }))).message, String(kind)).toMatch(/^blocked: .*NIP-EE/)
      }
    })

    it("with the flag: KeyPackages by author, relay lists replaceable, group messages by h tag, stored and live; old group messages refused", async () => {
      const relay = await relays.start({ nipEE: true, mlsMessageRetentionSeconds: 3600 })
      const c = await relays.open(relay)
      const alice = newKey()
      const kp = makeEvent({ kind: 443, created_at: now() - 20, content: "a2V5cGFja2FnZQ==", tags: [["mls_protocol_version", "1.0"], ["ciphersuite", "0x0001"], ["relays", relay.url]] }, alice)
      await publishOk(c, kp)
      expect(idsOf((await req(c, "kp", { kinds: [443], authors: [alice.pk] })).events)).toEqual([kp.id])
      const list1 = makeEvent({ kind: 10051, created_at: now() - 10, tags: [["relay", "wss://a.example.com"]] }, alice)
      const list2 = makeEvent({ kind: 10051, created_at: now() - 5, tags: [["relay", "wss://b.example.com"]] }, alice)
      await publishOk(c, list1)
      await publishOk(c, list2)
      expect(idsOf((await req(c, "rl", { kinds: [10051], authors: [alice.pk] })).events)).toEqual([list2.id])

      const group = `g${Math.random().toString(36).slice(2)}`
      const stored = makeEvent({ kind: 445, created_at: now() - 30, tags: [["h", group]], content: "ciphertext" })
      await publishOk(c, stored)
      const member = await relays.open(relay)
      expect(idsOf((await req(member, "grp", { kinds: [445], "#h": [group] })).events)).toEqual([stored.id])
      const live = makeEvent({ kind: 445, created_at: now(), tags: [["h", group]], content: "more ciphertext" })
      await publishOk(c, makeEvent({ kind: 445, created_at: now(), tags: [["h", "another-group"]] }))
      await publishOk(c, live)
      expect((await nextEvent(member, "grp")).id).toBe(live.id)
      // Older than the MLS retention: refused, as the maintenance run would remove it.
      expect((await publish(c, makeEvent({ kind: 445, created_at: now() - 7200, tags: [["h", group]] }))).message).toMatch(/^invalid: .*445/)
    })
  })
