/**
 * The negentropy engine against itself: for random sets A and B, a session
 * finds exactly A\B (have) and B\A (need), with and without a frame size
 * limit (then every message respects it); plus varints and hostile input.
 */
import { randomBytes } from "node:crypto"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeVarint, encodeVarint, Negentropy, NegentropyError, Storage, bytesToHex, type Item } from "../../src/negentropy/engine.ts"

const item = (timestamp: number, id: Uint8Array = randomBytes(32)): Item => ({ timestamp, id })

/** Runs a whole session; returns have/need (hex, sorted) and the largest message size. */
export const sync = (a: ReadonlyArray<Item>, b: ReadonlyArray<Item>, frameSizeLimit = 0) => {
  const client = new Negentropy(new Storage(a), frameSizeLimit)
  const server = new Negentropy(new Storage(b), frameSizeLimit)
  const have: Array<string> = []
  const need: Array<string> = []
  let msg: Uint8Array | undefined = client.initiate()
  let largest = msg.length
  let rounds = 0
  while (msg !== undefined) {
    const answer = server.respond(msg)
    largest = Math.max(largest, answer.length)
    const r = client.reconcile(answer)
    have.push(...r.have)
    need.push(...r.need)
    msg = r.next
    if (msg) largest = Math.max(largest, msg.length)
    if (++rounds > 1000) throw new Error("no convergence")
  }
  return { have: have.sort(), need: need.sort(), largest, rounds }
}

const idsOf = (items: ReadonlyArray<Item>) => items.map((i) => bytesToHex(i.id)).sort()

describe("negentropy engine", () => {
  it("varints round-trip and are most-significant first", () => {
    expect([...encodeVarint(0)]).toEqual([0])
    expect([...encodeVarint(127)]).toEqual([127])
    expect([...encodeVarint(128)]).toEqual([0x81, 0x00])
    expect([...encodeVarint(16383)]).toEqual([0xff, 0x7f])
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        const bytes = encodeVarint(n)
        let i = 0
        return decodeVarint({ byte: () => bytes[i++]! }) === n && i === bytes.length
      })
    )
  })

  it("packs records given as (created_at, hex id) the same as items", () => {
    const items = Array.from({ length: 500 }, () => item(1_700_000_000 + Math.floor(Math.random() * 20)))
    const a = new Storage(items)
    const b = Storage.fromRecords(items.map((i) => ({ created_at: i.timestamp, id: bytesToHex(i.id) })).reverse())
    expect(b.size).toBe(500)
    for (const [lo, hi] of [[0, 500], [0, 0], [17, 333], [499, 500]] as const) expect(bytesToHex(b.fingerprint(lo, hi))).toBe(bytesToHex(a.fingerprint(lo, hi)))
    for (let i = 0; i < 500; i += 37) expect([b.timestamp(i), bytesToHex(b.id(i))]).toEqual([a.timestamp(i), bytesToHex(a.id(i))])
    expect(() => Storage.fromRecords([{ created_at: 1, id: "zz".repeat(32) }])).toThrow(NegentropyError)
    expect(() => Storage.fromRecords([{ created_at: 1, id: "ab".repeat(32) }, { created_at: 1, id: "ab".repeat(32) }])).toThrow(/duplicate/)
  })

  it("finds exactly A\\B and B\\A for random sets (shared timestamps included)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 50 }), (common, onlyA, onlyB, spread) => {
        const ts = () => 1_700_000_000 + Math.floor(Math.random() * spread)
        const shared = Array.from({ length: common }, () => item(ts()))
        const a = Array.from({ length: onlyA }, () => item(ts()))
        const b = Array.from({ length: onlyB }, () => item(ts()))
        const r = sync([...shared, ...a], [...shared, ...b])
        expect(r.have).toEqual(idsOf(a))
        expect(r.need).toEqual(idsOf(b))
      }),
      { numRuns: 60 }
    )
  })

  it("keeps every message within the frame size limit and still converges", () => {
    const shared = Array.from({ length: 5000 }, (_, i) => item(1_700_000_000 + i))
    const a = Array.from({ length: 700 }, (_, i) => item(1_700_000_000 + i * 3))
    const b = Array.from({ length: 900 }, (_, i) => item(1_700_000_000 + i * 5))
    const r = sync([...shared, ...a], [...shared, ...b], 4096)
    expect(r.have).toEqual(idsOf(a))
    expect(r.need).toEqual(idsOf(b))
    expect(r.largest).toBeLessThanOrEqual(4096)
    expect(r.rounds).toBeGreaterThan(1)
  })

  it("equal sets end after one round trip; empty sets work", () => {
    const shared = Array.from({ length: 2000 }, (_, i) => item(1_700_000_000 + (i % 97)))
    const r = sync(shared, shared)
    expect(r).toMatchObject({ have: [], need: [], rounds: 1 })
    expect(sync([], [])).toMatchObject({ have: [], need: [] })
    const b = [item(5), item(6)]
    expect(sync([], b).need).toEqual(idsOf(b))
  })

  it("answers an unknown protocol version with its own version byte, and refuses garbage", () => {
    const server = new Negentropy(new Storage([item(1)]))
    expect([...server.respond(Uint8Array.of(0x62))]).toEqual([0x61])
    expect(() => new Negentropy(new Storage([])).respond(Uint8Array.of(0x10))).toThrow(NegentropyError)
    expect(() => new Negentropy(new Storage([])).respond(Uint8Array.of(0x61, 0x01, 0x21))).toThrow(NegentropyError)
    expect(() => new Negentropy(new Storage([])).respond(Uint8Array.of(0x61, 0x00, 0x00, 0x07))).toThrow(/mode/)
  })
})
