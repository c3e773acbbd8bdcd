/**
 * Interop with an independent negentropy implementation from npm
 * (@nostr-dev-kit/sync): ours as initiator against theirs as responder, and
 * theirs as initiator against ours, over random sets.
 */
import { randomBytes } from "node:crypto"
import { Negentropy as TheirNegentropy, NegentropyStorage } from "@nostr-dev-kit/sync"
import { describe, expect, it } from "vitest"
import { bytesToHex, Negentropy, Storage, type Item } from "../../src/negentropy/engine.ts"

const item = (timestamp: number): Item => ({ timestamp, id: randomBytes(32) })
const theirStorage = (items: ReadonlyArray<Item>) => {
  const s = new NegentropyStorage()
  for (const i of items) s.insert(i.timestamp, i.id)
  s.seal()
  return s
}
const hexes = (ids: ReadonlyArray<Uint8Array | string>) => ids.map((x) => (typeof x === "string" ? x : bytesToHex(x))).sort()

const sets = (common: number, onlyA: number, onlyB: number) => {
  const ts = () => 1_700_000_000 + Math.floor(Math.random() * 40)
  const shared = Array.from({ length: common }, () => item(ts()))
  const a = Array.from({ length: onlyA }, () => item(ts()))
  const b = Array.from({ length: onlyB }, () => item(ts()))
  return { a, b, clientSet: [...shared, ...a], serverSet: [...shared, ...b] }
}

describe("negentropy interop with @nostr-dev-kit/sync", () => {
  for (const [common, onlyA, onlyB, frame] of [[0, 0, 0, 0], [50, 3, 7, 0], [3000, 40, 60, 0], [6000, 300, 500, 8192]] as const) {
    it(`ours initiating, theirs responding (${common} shared, ${onlyA}/${onlyB} apart, frame ${frame || "none"})`, async () => {
      const { a, b, clientSet, serverSet } = sets(common, onlyA, onlyB)
      const client = new Negentropy(new Storage(clientSet), frame)
      const server = new TheirNegentropy(theirStorage(serverSet), frame || undefined)
      const have: Array<string> = []
      const need: Array<string> = []
      let msg: Uint8Array | undefined = client.initiate()
      while (msg !== undefined) {
        const answer = (await server.reconcile(msg)).nextMessage!
        const r = client.reconcile(answer)
        have.push(...r.have)
        need.push(...r.need)
        msg = r.next
      }
      expect(hexes(have)).toEqual(hexes(a.map((i) => i.id)))
      expect(hexes(need)).toEqual(hexes(b.map((i) => i.id)))
    })

    it(`theirs initiating, ours responding (${common} shared, ${onlyA}/${onlyB} apart, frame ${frame || "none"})`, async () => {
      const { a, b, clientSet, serverSet } = sets(common, onlyA, onlyB)
      const client = new TheirNegentropy(theirStorage(clientSet), frame || undefined)
      const server = new Negentropy(new Storage(serverSet), frame)
      const have: Array<Uint8Array> = []
      const need: Array<Uint8Array> = []
      let msg: Uint8Array | undefined = await client.initiate()
      while (msg !== undefined) {
        const r = await client.reconcile(server.respond(msg))
        have.push(...r.have)
        need.push(...r.need)
        msg = r.nextMessage
      }
      expect(hexes(have)).toEqual(hexes(a.map((i) => i.id)))
      expect(hexes(need)).toEqual(hexes(b.map((i) => i.id)))
    })
  }
})
