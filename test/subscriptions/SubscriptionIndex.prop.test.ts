/**
 * SubscriptionIndex against a naive model: after any sequence of add /
 * replace / remove / removeConnection, publishing an event delivers it to
 * exactly the live subscriptions whose filters match (matchesAny over all of
 * them), once each, and to nothing that was replaced or removed; and the
 * subscription budget charges exactly the live subscriptions.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { matchesAny, type Filter, type NostrEvent } from "../../src/nostr/index.ts"
import { subscriptionCost } from "../../src/subscriptions/budget.ts"
import { makeSubscriptionIndex } from "../../src/subscriptions/SubscriptionIndex.ts"
import { alphabet, eventArb as eventArbOf, filterArb as filterArbOf } from "../support/arbitraries.ts"

const hex = (c: string) => c.repeat(64)
const A = alphabet()
const eventArb = eventArbOf(A)
const filterArb = filterArbOf(A)

type Op =
  | { readonly op: "add"; readonly conn: number; readonly sub: string; readonly filters: ReadonlyArray<Filter> }
  | { readonly op: "remove"; readonly conn: number; readonly sub: string }
  | { readonly op: "removeConnection"; readonly conn: number }
  | { readonly op: "publish"; readonly event: NostrEvent }

const conn = fc.integer({ min: 1, max: 3 })
const sub = fc.constantFrom("s1", "s2", "s3")
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("add" as const), conn, sub, filters: fc.array(filterArb, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), conn, sub }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("removeConnection" as const), conn }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("publish" as const), event: eventArb }) }
)

const key = (conn: number, sub: string) => `${conn}/${sub}`

describe("SubscriptionIndex", () => {
  it("publish delivers to exactly the subscriptions a naive scan matches, once each", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        const index = makeSubscriptionIndex()
        /** key -> (token of the current registration, its filters) */
        const model = new Map<string, { readonly token: number; readonly filters: ReadonlyArray<Filter> }>()
        let tokens = 0
        let delivered: Array<string> = []
        for (const o of ops) {
          switch (o.op) {
            case "add": {
              const token = ++tokens
              const k = key(o.conn, o.sub)
              index.add({ connectionId: o.conn, ip: `10.0.0.${o.conn}`, subId: o.sub, filters: o.filters, deliver: () => void delivered.push(`${k}#${token}`) })
              model.set(k, { token, filters: o.filters })
              break
            }
            case "remove":
              expect(index.remove(o.conn, o.sub)).toBe(model.delete(key(o.conn, o.sub)))
              break
            case "removeConnection": {
              const mine = [...model.keys()].filter((k) => k.startsWith(`${o.conn}/`))
              for (const k of mine) model.delete(k)
              expect(index.removeConnection(o.conn)).toBe(mine.length)
              break
            }
            case "publish": {
              delivered = []
              const n = index.publish(o.event)
              const expected = [...model].filter(([, v]) => matchesAny(v.filters, o.event)).map(([k, v]) => `${k}#${v.token}`)
              expect([...delivered].sort()).toEqual(expected.sort())
              expect(n).toBe(expected.length)
              break
            }
          }
          expect(index.size()).toBe(model.size)
          for (const c of [1, 2, 3]) expect(index.countFor(c)).toBe([...model.keys()].filter((k) => k.startsWith(`${c}/`)).length)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("with many subscriptions per value and values listed twice: the same deliveries, and the budget charges exactly the live ones", () => {
    // Up to 8 connections x 4 ids x 3 filters: buckets grow past the small-array size into Sets and shrink back.
    const manyConn = fc.integer({ min: 1, max: 8 })
    const manySub = fc.constantFrom("s1", "s2", "s3", "s4")
    const dupFilter = fc.record({
      authors: fc.array(fc.constantFrom(...A.pubkeys), { minLength: 1, maxLength: 4 }),
      kinds: fc.option(fc.array(fc.constantFrom(...A.kinds), { minLength: 1, maxLength: 3 }), { nil: undefined })
    }).map((r): Filter => (r.kinds === undefined ? { authors: r.authors } : { authors: r.authors, kinds: r.kinds }))
    const ops = fc.array(
      fc.oneof(
        { weight: 5, arbitrary: fc.record({ op: fc.constant("add" as const), conn: manyConn, sub: manySub, filters: fc.array(fc.oneof(dupFilter, filterArb), { minLength: 1, maxLength: 3 }) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), conn: manyConn, sub: manySub }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant("removeConnection" as const), conn: manyConn }) },
        { weight: 3, arbitrary: fc.record({ op: fc.constant("publish" as const), event: eventArb }) }
      ),
      { minLength: 1, maxLength: 120 }
    )
    fc.assert(
      fc.property(ops, (list) => {
        const index = makeSubscriptionIndex()
        const model = new Map<string, { readonly token: number; readonly filters: ReadonlyArray<Filter>; readonly ip: string }>()
        let tokens = 0
        let delivered: Array<string> = []
        for (const o of list as ReadonlyArray<Op>) {
          if (o.op === "add") {
            const token = ++tokens
            const k = key(o.conn, o.sub)
            const ip = `10.0.0.${o.conn % 3}`
            index.add({ connectionId: o.conn, ip, subId: o.sub, filters: o.filters, deliver: () => void delivered.push(`${k}#${token}`) })
            model.set(k, { token, filters: o.filters, ip })
          } else if (o.op === "remove") {
            expect(index.remove(o.conn, o.sub)).toBe(model.delete(key(o.conn, o.sub)))
          } else if (o.op === "removeConnection") {
            const mine = [...model.keys()].filter((k) => k.startsWith(`${o.conn}/`))
            for (const k of mine) model.delete(k)
            expect(index.removeConnection(o.conn)).toBe(mine.length)
          } else {
            delivered = []
            const n = index.publish(o.event)
            const expected = [...model].filter(([, v]) => matchesAny(v.filters, o.event)).map(([k, v]) => `${k}#${v.token}`)
            expect([...delivered].sort()).toEqual(expected.sort())
            expect(n).toBe(expected.length)
          }
          const cost = (pred: (k: string, ip: string) => boolean) =>
            [...model].filter(([k, v]) => pred(k, v.ip)).reduce((sum, [, v]) => sum + subscriptionCost(v.filters), 0)
          expect(index.bytes()).toBe(cost(() => true))
          for (const c of [1, 2, 3]) expect(index.bytesFor(c)).toBe(cost((k) => k.startsWith(`${c}/`)))
          for (const ip of ["10.0.0.0", "10.0.0.1", "10.0.0.2"]) expect(index.bytesForIp(ip)).toBe(cost((_, i) => i === ip))
        }
      }),
      { numRuns: 200 }
    )
  })

  it("a filter with only since/until, or none, sees every event in range", () => {
    const index = makeSubscriptionIndex()
    const got: Array<string> = []
    index.add({ connectionId: 1, ip: "127.0.0.1", subId: "all", filters: [{}], deliver: (e) => void got.push(e.id) })
    index.add({ connectionId: 1, ip: "127.0.0.1", subId: "recent", filters: [{ since: 5 }], deliver: (e) => void got.push(`recent:${e.id}`) })
    const e = { id: hex("1"), pubkey: hex("a"), created_at: 5, kind: 1, tags: [], content: "", sig: "0".repeat(128) }
    expect(index.publish(e)).toBe(2)
    expect(got.sort()).toEqual([hex("1"), `recent:${hex("1")}`])
    expect(index.publish({ ...e, created_at: 4 })).toBe(1)
  })
})
