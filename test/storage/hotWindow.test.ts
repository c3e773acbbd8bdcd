/**
 * The hot window's own rules (src/storage/HotWindow.ts): what it holds, what it may claim,
 * and what it hands to the store.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { ClusterBus } from "../../src/cluster/ClusterBus.ts"
import { eventJson, type Filter, type NostrEvent } from "../../src/nostr/index.ts"
import { entryBytes, makeHotWindow } from "../../src/storage/HotWindow.ts"
import { makeMemoryEventStore } from "../../src/storage/memory/MemoryEventStore.ts"
import { makeHotWindowStore } from "../../src/storage/withHotWindow.ts"

const A = "a".repeat(64)
const B = "b".repeat(64)
let seq = 0
const ev = (over: Partial<NostrEvent> = {}): NostrEvent => ({
  id: (seq++).toString(16).padStart(64, "0"),
  pubkey: A,
  created_at: 100,
  kind: 1,
  tags: [],
  content: "hello",
  sig: "0".repeat(128),
  ...over
})

const windowWith = (events: ReadonlyArray<NostrEvent>, maxBytes = 1 << 30) => {
  const w = makeHotWindow({ maxBytes })
  for (const e of events) w.add(e, eventJson(e), "local")
  w.open(-Infinity)
  return w
}
const ids = (plan: { readonly local: ReadonlyArray<{ readonly id: string }> }) => plan.local.map((e) => e.id)
const NOW = 1000

/** Two versions of one replaceable address (kind 10002 of A) at second 50, `first` winning the tie (lower id). */
const versions = () => {
  const first = ev({ id: "1".repeat(64), kind: 10002, created_at: 50 })
  const second = ev({ id: "2".repeat(64), kind: 10002, created_at: 50 })
  return { first, second }
}

describe("hot window: versions seen out of the store's order (bus lag) give up what they cannot prove", () => {
  it("deleting a version that replaced another here raises the floor past the replaced one", () => {
    // Here: `second` committed, then `first` heard late and replacing it; the store may have had
    // `first` deleted before it stored `second` (then `second` is the store's version).
    const { first, second } = versions()
    const w = windowWith([second])
    w.add(first, eventJson(first), "remote")
    w.deleteByRequest({ pubkey: A, ids: [first.id], addresses: [], until: 60 })
    expect(w.floor).toBe(51)
    // The store answers for second 50 (where `second` may be the store's version).
    expect(w.plan([{ kinds: [10002] }], NOW).rest).toEqual([{ kinds: [10002], until: 50 }])
  })

  it("a version older than one deleted meanwhile, heard late from elsewhere, is not taken as the store's", () => {
    // The store: `second` replaced by `first`, `first` deleted: it holds neither.
    const { first, second } = versions()
    const w = windowWith([])
    w.deleteByRequest({ pubkey: A, ids: [first.id], addresses: [], until: 60 })
    w.add(first, eventJson(first), "remote")
    expect(w.add(second, eventJson(second), "remote")).toBe(false)
    expect(w.floor).toBe(51)
  })

  it("an expired version that wins over the one held: the held one's second is given up", () => {
    const { first, second } = versions()
    const w = windowWith([second])
    w.plan([{}], 100)
    const expired = { ...first, tags: [["expiration", "60"]] }
    expect(w.add(expired, eventJson(expired), "remote")).toBe(false)
    expect(w.floor).toBe(51)
  })
})

describe("hot window", () => {
  it("claims nothing before it is opened, and everything of a store it holds whole", () => {
    const e = ev()
    const w = makeHotWindow({ maxBytes: 1 << 20 })
    w.add(e, eventJson(e), "local")
    const f: Filter = { kinds: [1], limit: 10 }
    expect(w.plan([f], NOW)).toEqual({ local: [], rest: [f], result: "miss" })
    w.open(-Infinity)
    const p = w.plan([f], NOW)
    expect(p.result).toBe("hit")
    expect(ids(p)).toEqual([e.id])
    expect(p.local[0]!.json).toBe(eventJson(e))
  })

  it("answers newest first, ties by lowest id, each filter with its limit, several filters merged", () => {
    const es = [ev({ created_at: 5 }), ev({ created_at: 7 }), ev({ created_at: 7 }), ev({ created_at: 6, pubkey: B })]
    const w = windowWith([...es].reverse())
    expect(ids(w.plan([{ limit: 3 }], NOW))).toEqual([es[1]!.id, es[2]!.id, es[3]!.id])
    expect(ids(w.plan([{ authors: [B], limit: 5 }, { kinds: [1], limit: 1 }], NOW))).toEqual([es[1]!.id, es[3]!.id])
    expect(ids(w.plan([{ since: 6, until: 6, limit: 5 }], NOW))).toEqual([es[3]!.id])
  })

  it("evicts the oldest second whole and claims only from after it", () => {
    const es = [10, 10, 11, 12, 13].map((t) => ev({ created_at: t }))
    const one = eventJson(es[0]!).length
    // Room for about three events: the two of second 10 go together.
    const w = makeHotWindow({ maxBytes: 3 * (one + 420) })
    for (const e of es) w.add(e, eventJson(e), "local")
    w.open(-Infinity)
    expect(w.floor).toBe(11)
    expect(w.stats().events).toBe(3)
    // Enough matches in the window: a hit.
    expect(w.plan([{ kinds: [1], limit: 2 }], NOW).result).toBe("hit")
    // Not enough: the window's part, and the rest below the floor from the store.
    const p = w.plan([{ kinds: [1], limit: 5 }], NOW)
    expect(p.result).toBe("partial")
    expect(ids(p)).toEqual([es[4]!.id, es[3]!.id, es[2]!.id])
    expect(p.rest).toEqual([{ kinds: [1], limit: 2, until: 10 }])
    // since at or after the floor: all matches are here.
    expect(w.plan([{ kinds: [1], since: 11, limit: 5 }], NOW).result).toBe("hit")
    // Entirely below the floor: the store.
    expect(w.plan([{ kinds: [1], until: 10, limit: 5 }], NOW).result).toBe("miss")
    // Older events are not taken any more.
    expect(w.add(ev({ created_at: 10 }), "{}", "local")).toBe(false)
  })

  it("answers ids it holds all of, whatever the floor", () => {
    const es = [20, 21].map((t) => ev({ created_at: t }))
    const w = windowWith(es)
    w.raiseFloor(21)
    expect(w.plan([{ ids: [es[1]!.id], limit: 5 }], NOW).result).toBe("hit")
    const missing = w.plan([{ ids: [es[1]!.id, es[0]!.id], limit: 5 }], NOW)
    expect(missing.result).toBe("partial")
    // Of the ids, the store is asked only for the one the window lacks.
    expect(missing.rest).toEqual([{ ids: [es[0]!.id], limit: 4, until: 20 }])
  })

  it("keeps the newest version of a replaceable or addressable event", () => {
    const old = ev({ kind: 0, created_at: 5 })
    const cur = ev({ kind: 0, created_at: 6 })
    const tieLow = ev({ kind: 30023, created_at: 9, tags: [["d", "x"]], id: "1".repeat(64) })
    const tieHigh = ev({ kind: 30023, created_at: 9, tags: [["d", "x"]], id: "2".repeat(64) })
    const w = windowWith([old, cur, tieHigh, tieLow])
    expect(ids(w.plan([{ kinds: [0, 30023], limit: 10 }], NOW))).toEqual([tieLow.id, cur.id])
    // An older version arriving late is not taken.
    expect(w.add(old, eventJson(old), "local")).toBe(false)
  })

  it("applies deletion requests by id (with k) and by address, and refuses what they removed", () => {
    const mine = ev({ kind: 1, created_at: 5 })
    const theirs = ev({ kind: 1, created_at: 5, pubkey: B })
    const reaction = ev({ kind: 7, created_at: 5 })
    const article = ev({ kind: 30023, created_at: 5, tags: [["d", "x"]] })
    const w = windowWith([mine, theirs, reaction, article])
    w.deleteByRequest({ pubkey: A, ids: [mine.id, theirs.id, reaction.id], addresses: [{ kind: 30023, pubkey: A, d: "x" }], until: 6, kinds: [1] })
    expect(ids(w.plan([{ limit: 10 }], NOW)).sort()).toEqual([theirs.id, reaction.id].sort())
    // Reaching the window after the request (another process's commit racing it): not taken.
    const late = ev({ kind: 1, created_at: 5 })
    w.deleteByRequest({ pubkey: A, ids: [late.id], addresses: [], until: 6 })
    expect(w.add(late, eventJson(late), "local")).toBe(false)
    expect(w.add(ev({ kind: 30023, created_at: 6, tags: [["d", "x"]] }), "{}", "local")).toBe(false)
    expect(w.add(ev({ kind: 30023, created_at: 7, tags: [["d", "x"]] }), "{}", "local")).toBe(true)
  })

  it("gives up what a request to vanish covers, and doubts what others send after it", () => {
    const own = ev({ created_at: 5 })
    const later = ev({ created_at: 9 })
    const wrap = ev({ kind: 1059, pubkey: B, created_at: 5, tags: [["p", A]] })
    const w = windowWith([own, later, wrap])
    expect(w.vanish(A, 6)).toBe(true)
    expect(w.floor).toBe(7)
    expect(ids(w.plan([{ limit: 10 }], NOW))).toEqual([later.id])
    // An older request changes nothing below the floor.
    expect(w.vanish(B, 3)).toBe(false)
    // Filled again within the grace: this process's own commits come after its requests; what others
    // send or the fill reads, at or before the request, may have raced it: the floor goes past it.
    w.reset()
    expect(w.add(ev({ kind: 1059, pubkey: B, created_at: 5, tags: [["p", A]] }), "{}", "local")).toBe(true)
    expect(w.add(ev({ kind: 1059, pubkey: B, created_at: 4, tags: [["p", A]] }), "{}", "fill")).toBe(false)
    expect(w.floor).toBe(5)
  })

  it("leaves out expired events when answering, and drops them and old ones on the purges", () => {
    const expiring = ev({ created_at: 5, tags: [["expiration", "900"]] })
    const plain = ev({ created_at: 5, kind: 7 })
    const w = windowWith([expiring, plain])
    expect(ids(w.plan([{ limit: 10 }], 899))).toHaveLength(2)
    expect(ids(w.plan([{ limit: 10 }], 900))).toEqual([plain.id])
    expect(w.countable([{}], 900)).toHaveLength(1)
    w.purgeExpired(900)
    expect(w.stats().events).toBe(1)
    w.purgeByRetention({ rules: [{ from: 7, to: 7, maxAge: 10 }], fallback: undefined }, 16)
    expect(w.stats().events).toBe(0)
  })

  it("sends search and filters on tag values PostgreSQL does not index to the store", () => {
    const w = windowWith([ev()])
    expect(w.plan([{ search: "hello", limit: 5 }], NOW).result).toBe("miss")
    expect(w.plan([{ tags: { t: ["x".repeat(2500)] }, limit: 5 }], NOW).result).toBe("miss")
  })

  it("checks tag conditions other than the one it walks, by the tag index or (many values) on the event", () => {
    const a = ev({ created_at: 5, tags: [["t", "x"], ["p", B]] })
    const b = ev({ created_at: 6, tags: [["t", "y"]] })
    const c = ev({ created_at: 7, pubkey: B, tags: [["t", "x"]] })
    const w = windowWith([a, b, c])
    const many = Array.from({ length: 20 }, (_, i) => `v${i}`)
    expect(ids(w.plan([{ authors: [A], tags: { t: ["x"] }, limit: 10 }], NOW))).toEqual([a.id])
    expect(ids(w.plan([{ authors: [A], tags: { t: [...many, "y"] }, limit: 10 }], NOW))).toEqual([b.id])
    expect(ids(w.plan([{ kinds: [1], tags: { t: ["x", "y"], p: [B] }, limit: 10 }], NOW))).toEqual([a.id])
    expect(ids(w.plan([{ tags: { t: ["x"] }, alsoTagged: { name: "p", value: B }, limit: 10 }], NOW))).toEqual([a.id])
    expect(ids(w.plan([{ kinds: [1], authors: [A, B], excludeKinds: [7], tags: { t: ["x"] }, limit: 10 }], NOW))).toEqual([c.id, a.id])
  })

  it("gives up on an answer that would examine too many entries", () => {
    const w = makeHotWindow({ maxBytes: 1 << 30, maxScan: 50 })
    for (let i = 0; i < 100; i++) {
      const e = ev({ created_at: i })
      w.add(e, eventJson(e), "local")
    }
    w.open(-Infinity)
    expect(w.plan([{ kinds: [1], tags: { t: ["nothing"] }, limit: 5 }], NOW).result).toBe("hit")
    expect(w.plan([{ kinds: [1], authors: [A], since: 0, until: 99, limit: 5, tags: { e: [] } }], NOW).result).toBe("hit")
    expect(w.plan([{ kinds: [1], limit: 100 }], NOW).result).toBe("miss")
  })

  it("counts only when it holds every match", () => {
    const es = [10, 11, 12].map((t) => ev({ created_at: t }))
    const w = windowWith(es)
    expect(w.countable([{ kinds: [1] }], NOW)).toHaveLength(3)
    w.raiseFloor(11)
    expect(w.countable([{ kinds: [1] }], NOW)).toBeUndefined()
    expect(w.countable([{ kinds: [1], since: 11 }], NOW)).toHaveLength(2)
  })

  it("empties on reset and keeps its budget", () => {
    const w = makeHotWindow({ maxBytes: 50_000 })
    for (let i = 0; i < 1000; i++) {
      const e = ev({ created_at: i, tags: [["t", `v${i % 7}`], ["p", B]] })
      w.add(e, eventJson(e), "local")
    }
    expect(w.stats().bytes).toBeLessThanOrEqual(50_000)
    expect(w.stats().events).toBeGreaterThan(10)
    w.reset()
    expect(w.stats()).toMatchObject({ bytes: 0, events: 0 })
    expect(w.ready).toBe(false)
  })
})

describe("hot window store", () => {
  it("a fill that stops at the budget's estimate claims nothing older than what it read", async () => {
    // 1,500 events without tags, one a second: each entry takes less than the fill's estimate (which
    // counts 4 index lists, these are in 3), so a budget just under the estimate of the newest
    // 1,000 (one page) stops the fill there though eviction never raises the floor.
    const inner = makeMemoryEventStore()
    const events = Array.from({ length: 1500 }, (_, i) => ev({ created_at: 10_000 + i, content: `event ${i}` }))
    for (const e of events) await Effect.runPromise(inner.put(e))
    const newest = events.slice(500)
    const estimate = newest.reduce((n, e) => n + entryBytes(eventJson(e), 4), 0)
    const counted = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const made = yield* makeHotWindowStore(inner, ClusterBus.local, { maxBytes: estimate - 1 })
          yield* made.ready
          // It holds (nearly) the newest page only; the budget was never exceeded.
          expect(made.window.stats().events).toBeLessThanOrEqual(1000)
          expect(made.window.stats().bytes).toBeLessThan(estimate)
          return yield* made.store.count([{ kinds: [1] }])
        })
      )
    )
    expect(counted).toBe(1500)
  })

  it("decorates every method that changes stored events; every other one is a known read", async () => {
    const inner = makeMemoryEventStore()
    const decorated = await Effect.runPromise(
      Effect.scoped(Effect.map(makeHotWindowStore(inner, ClusterBus.local, { maxBytes: 1 << 20 }), (m) => m.store))
    )
    // A new method of the port that writes or removes events must be mirrored in the window
    // (storage/withHotWindow.ts), or the window would serve what the store no longer holds.
    const reads = ["query", "negentropyRecords", "authorsAtDomain", "vanished", "scan", "storedIds", "size"]
    const decoratedKeys = ["put", "queryServed", "count", "countHll", "deleteByRequest", "vanish", "purgeExpired", "purgeByRetention"]
    for (const key of Object.keys(inner)) {
      if (decoratedKeys.includes(key)) expect(decorated[key as keyof typeof decorated], key).not.toBe(inner[key as keyof typeof inner])
      else expect(reads, `EventStore.${key}: a read the window may pass through, or a write it must mirror?`).toContain(key)
    }
  })
})
