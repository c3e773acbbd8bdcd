/**
 * The bridge between two responders: for random sets A and B it finds
 * exactly A\B and B\A, with frame size limits that cut answers short, with
 * shared timestamps, with an empty side, and with @nostr-dev-kit/sync as one
 * of the responders. A responder that answers with garbage or with ranges it
 * was not asked about is an error, not a wrong result.
 */
import { randomBytes } from "node:crypto"
import { Negentropy as TheirNegentropy, NegentropyStorage } from "@nostr-dev-kit/sync"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Bridge, type Side } from "../../src/negentropy/bridge.ts"
import { bytesToHex, encodeMessage, MAX_BOUND, Negentropy, NegentropyError, Storage, type Item } from "../../src/negentropy/engine.ts"

const item = (timestamp: number): Item => ({ timestamp, id: randomBytes(32) })
type Responder = (msg: Uint8Array) => Uint8Array | Promise<Uint8Array>
const ours = (items: ReadonlyArray<Item>, frame = 0): Responder => {
  const engine = new Negentropy(new Storage(items), frame)
  return (m) => engine.respond(m)
}
const theirs = (items: ReadonlyArray<Item>, frame = 0): Responder => {
  const s = new NegentropyStorage()
  for (const i of items) s.insert(i.timestamp, i.id)
  s.seal()
  const engine = new TheirNegentropy(s, frame || undefined)
  return async (m) => (await engine.reconcile(m)).nextMessage!
}

/** Runs the bridge to the end; rounds send to both sides at once. */
const bridge = async (a: Responder, b: Responder, budget?: number) => {
  const br = new Bridge(budget)
  const sides: ReadonlyArray<[Side, Responder]> = [[0, a], [1, b]]
  let rounds = 0
  while (!br.done) {
    const out = sides.map(([side, r]) => [side, r, br.next(side)] as const)
    for (const [side, r, msg] of out) if (msg !== undefined) br.receive(side, await r(msg))
    if (++rounds > 10_000) throw new Error("no convergence")
  }
  return { onlyA: [...br.onlyIn[0]].sort(), onlyB: [...br.onlyIn[1]].sort(), rounds }
}
const ids = (items: ReadonlyArray<Item>) => items.map((i) => bytesToHex(i.id)).sort()

const sets = (common: number, onlyA: number, onlyB: number, spread: number) => {
  const ts = () => 1_700_000_000 + Math.floor(Math.random() * spread)
  const shared = Array.from({ length: common }, () => item(ts()))
  const a = Array.from({ length: onlyA }, () => item(ts()))
  const b = Array.from({ length: onlyB }, () => item(ts()))
  return { a, b, setA: [...shared, ...a], setB: [...shared, ...b] }
}

describe("negentropy bridge (two responders, no records of its own)", () => {
  it("finds exactly A\\B and B\\A for random sets", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom(0, 4096),
        async (common, onlyA, onlyB, spread, frame) => {
          const { a, b, setA, setB } = sets(common, onlyA, onlyB, spread)
          const r = await bridge(ours(setA, frame), ours(setB, frame), 4096)
          expect(r.onlyA).toEqual(ids(a))
          expect(r.onlyB).toEqual(ids(b))
        }
      ),
      { numRuns: 60 }
    )
  })

  it("works when either side is empty, and when both are", async () => {
    const { setA } = sets(500, 0, 0, 30)
    expect((await bridge(ours(setA, 4096), ours([]))).onlyA).toEqual(ids(setA))
    expect((await bridge(ours([]), ours(setA, 4096))).onlyB).toEqual(ids(setA))
    expect(await bridge(ours([]), ours([]))).toMatchObject({ onlyA: [], onlyB: [] })
  })

  it("hands over what it finds round by round, never holding a one-sided range whole", async () => {
    const { setA } = sets(20_000, 0, 0, 1000)
    const a = ours(setA, 8192)
    const b = ours([], 8192)
    const br = new Bridge(8192)
    const taken: Array<string> = []
    let largestRound = 0
    while (!br.done) {
      for (const [side, r] of [[0, a], [1, b]] as const) {
        const msg = br.next(side)
        if (msg !== undefined) br.receive(side, await r(msg))
      }
      const round = br.take(0)
      largestRound = Math.max(largestRound, round.length)
      taken.push(...round)
      expect(br.onlyIn[0].size).toBe(0)
    }
    expect(taken.sort()).toEqual(ids(setA))
    // 8 KB frames carry ~250 ids: no round hands over more than a frame's worth from each answer.
    expect(largestRound).toBeLessThan(2000)
  })

  it("takes a few rounds for 20,000 records with 1% apart", async () => {
    const { a, b, setA, setB } = sets(19_800, 100, 100, 100_000)
    const r = await bridge(ours(setA, 130_000), ours(setB, 130_000))
    expect(r.onlyA).toEqual(ids(a))
    expect(r.onlyB).toEqual(ids(b))
    expect(r.rounds).toBeLessThanOrEqual(8)
  })

  it("bridges an independent implementation (@nostr-dev-kit/sync) on either side", async () => {
    for (const frame of [0, 8192]) {
      const { a, b, setA, setB } = sets(3000, 40, 60, 50)
      const r1 = await bridge(theirs(setA, frame), ours(setB, frame))
      expect([r1.onlyA, r1.onlyB]).toEqual([ids(a), ids(b)])
      const r2 = await bridge(ours(setA, frame), theirs(setB, frame))
      expect([r2.onlyA, r2.onlyB]).toEqual([ids(a), ids(b)])
    }
  })

  it("refuses answers no responder gives", () => {
    const br = new Bridge()
    br.receive(0, new Negentropy(new Storage([item(1)])).respond(br.next(0)!)) // side 0 lists its one id: side 1 is asked for its ids
    const question = br.next(1)!
    expect(question).toBeDefined()
    // Side 1 "answers" with a fingerprint over everything instead of its ids.
    expect(() => br.receive(1, encodeMessage([{ upper: MAX_BOUND, mode: "skip" }]))).toThrow(NegentropyError)
    const br2 = new Bridge()
    br2.next(0)
    expect(() => br2.receive(0, Uint8Array.of(0x61, 0x05))).toThrow(NegentropyError)
    const br3 = new Bridge()
    br3.next(0)
    expect(() => br3.receive(0, Uint8Array.of(0x62))).toThrow(/version/)
    expect(() => new Bridge().receive(1, Uint8Array.of(0x61))).toThrow(/no question/)
  })
})
