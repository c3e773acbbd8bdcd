/**
 * The EventStore contract: one suite every adapter must pass.
 *
 * Usage (one file per adapter):
 *
 *   import { eventStoreContract } from "./eventStore.contract.ts"
 *   eventStoreContract("memory", () => layerMemory)
 *
 * `makeLayer` is called once per test and must give a fresh, EMPTY store
 * (for a database: new schema, or truncated tables). The suite touches the
 * store only through the port and awaits every call, so asynchronous adapters
 * (group commit, pools) are fine.
 *
 * Time: tests run on the live clock. The NIP-40 tests give the `query` and
 * `count` calls a TestClock set to a chosen unix time, so an adapter must take
 * "now" from Effect's `Clock` when the call runs (not from SQL `now()`, and
 * not captured when the layer was built). `put` always runs on the live clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { TestClock } from "effect/testing"
import { computeEventId, eventJson, type Filter, type NostrEvent, type ServedEvent } from "../../src/nostr/index.ts"
import {
  compareOldestFirst,
  EventStore,
  queryServed,
  type DeletionRequest,
  type EventStoreShape,
  type ScanCursor
} from "../../src/storage/EventStore.ts"
import { parseRetention } from "../../src/config/retention.ts"
import { idsOf, makeEvent, newKey, nip01Order, sameSecond, T0, type Key } from "../support/nostr.ts"

type Body = (store: EventStoreShape) => Effect.Effect<void, unknown>

/** Runs `eff` with a TestClock set to `unixSeconds`; the clock can be moved inside with TestClock.adjust. */
const atTime =
  (unixSeconds: number) =>
  <A, E>(eff: Effect.Effect<A, E, TestClock.TestClock>): Effect.Effect<A, E> =>
    Effect.andThen(TestClock.setTime(unixSeconds * 1000), eff).pipe(Effect.provide(TestClock.layer()))

const sortedIds = (events: ReadonlyArray<NostrEvent>) => idsOf(events).sort()

export const eventStoreContract = (name: string, makeLayer: () => Layer.Layer<EventStore, unknown>) =>
  describe(`EventStore contract: ${name}`, () => {
    const test = (title: string, body: Body, timeout?: number) =>
      it.live(
        title,
        () =>
          Effect.gen(function* () {
            const store = yield* EventStore
            yield* body(store)
          }).pipe(Effect.provide(makeLayer())),
        timeout
      )

    const putAll = (store: EventStoreShape, events: ReadonlyArray<NostrEvent>) =>
      Effect.forEach(events, (e) => store.put(e))

    /** Every event of these authors (no limit), in store order. */
    const allOf = (store: EventStoreShape, ...keys: ReadonlyArray<Key>) => store.query([{ authors: keys.map((k) => k.pk) }])

    // ------------------------------------------------------------------ put

    describe("put", () => {
      test("stores a regular event and reads it back field for field", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const e = makeEvent(
            {
              kind: 1,
              created_at: T0 + 7,
              content: 'line\nbreak "quoted" back\\slash\ttab\r\b\f é 日本 🎉 \u2028 {"json":[1]}',
              tags: [
                ["e", "a".repeat(64), "wss://relay.example.com", "reply"],
                ["p", k.pk],
                ["t", "nostr"],
                ["alt", "multi-letter tag, kept verbatim"],
                ["x"],
                ["emoji", "🎉", "https://example.com/🎉.png"]
              ]
            },
            k
          )
          expect(yield* store.put(e)).toBe("stored")
          const got = yield* store.query([{ ids: [e.id] }])
          expect(got).toEqual([e])
        }))

      test("stores events from any time, from 1970 to beyond 2038", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const times = [0, 1, 1_000_000_000, T0, 2 ** 31, 2 ** 32 + 7]
          const evs = times.map((created_at) => makeEvent({ created_at }, k))
          expect(yield* putAll(store, evs)).toEqual(times.map(() => "stored"))
          expect((yield* allOf(store, k)).map((e) => e.created_at)).toEqual([...times].reverse())
          expect(idsOf(yield* store.query([{ authors: [k.pk], since: 2 ** 31 }]))).toEqual(idsOf([evs[5]!, evs[4]!]))
          expect(idsOf(yield* store.query([{ authors: [k.pk], until: 0 }]))).toEqual([evs[0]!.id])
        }))

      test("round-trips control characters, unicode, long content and many tags", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const weird = "bell\u0007 esc\u001b del\u007f bom\ufeff zwj\u200d 🎉 \u2028 日本語 \"q\" \\ \n"
          const evs = [
            makeEvent({ created_at: T0, content: weird, tags: [["t", weird], [weird, "v"]] }, k),
            makeEvent({ created_at: T0 + 1, content: "x".repeat(100_000) }, k),
            makeEvent({ created_at: T0 + 2, tags: Array.from({ length: 500 }, (_, i) => ["t", `tag${i}`, "extra"]) }, k),
            makeEvent({ kind: 30000, created_at: T0 + 3, tags: [["d", weird]] }, k)
          ]
          expect(yield* putAll(store, evs)).toEqual(["stored", "stored", "stored", "stored"])
          expect(yield* allOf(store, k)).toEqual(nip01Order(evs))
          expect(idsOf(yield* store.query([{ tags: { t: [weird] } }]))).toEqual([evs[0]!.id])
          expect(idsOf(yield* store.query([{ tags: { t: ["tag499"] } }]))).toEqual([evs[2]!.id])
          expect(idsOf(yield* store.query([{ tags: { d: [weird] } }]))).toEqual([evs[3]!.id])
        }))

      test("NUL and lone surrogates: stored and read back exactly, or refused with StoreError, never altered", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const hard = [
            makeEvent({ created_at: T0, content: "nul\u0000inside" }, k),
            makeEvent({ created_at: T0 + 1, tags: [["t", "nul\u0000tag"]] }, k),
            makeEvent({ created_at: T0 + 2, content: "lone \ud800 high" }, k),
            makeEvent({ created_at: T0 + 3, tags: [["t", "lone \udfff low"]] }, k)
          ]
          for (const e of hard) {
            const outcome = yield* store.put(e).pipe(Effect.catchTag("StoreError", () => Effect.succeed("refused" as const)))
            expect(["stored", "refused"]).toContain(outcome)
            const back = yield* store.query([{ ids: [e.id] }])
            expect(back).toEqual(outcome === "stored" ? [e] : [])
          }
          // The store keeps working afterwards.
          const fine = makeEvent({ created_at: T0 + 4 }, k)
          expect(yield* store.put(fine)).toBe("stored")
          expect(idsOf(yield* store.query([{ ids: [fine.id] }]))).toEqual([fine.id])
        }))

      test("a second put of the same event is a duplicate and keeps one copy", (store) =>
        Effect.gen(function* () {
          const e = makeEvent({})
          expect(yield* store.put(e)).toBe("stored")
          expect(yield* store.put(e)).toBe("duplicate")
          expect(yield* store.put({ ...e, tags: [...e.tags] })).toBe("duplicate")
          expect(idsOf(yield* store.query([{}]))).toEqual([e.id])
        }))

      test("regular kinds keep every event of the same pubkey and kind", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          for (const kind of [1, 2, 4, 44, 1000, 9999, 40000, 65535]) {
            const a = makeEvent({ kind, created_at: T0 }, k)
            const b = makeEvent({ kind, created_at: T0 + 1 }, k)
            const [low, high] = sameSecond({ kind, created_at: T0 + 2 }, k)
            expect(yield* putAll(store, [b, a, high!, low!])).toEqual(["stored", "stored", "stored", "stored"])
            expect((yield* store.query([{ kinds: [kind], authors: [k.pk] }])).length).toBe(4)
          }
        }))

      test("concurrent puts of the same event: exactly one is stored", (store) =>
        Effect.gen(function* () {
          const e = makeEvent({})
          const outcomes = yield* Effect.all(
            Array.from({ length: 8 }, () => store.put(e)),
            { concurrency: "unbounded" }
          )
          expect(outcomes.filter((o) => o === "stored").length).toBe(1)
          expect(outcomes.filter((o) => o === "duplicate").length).toBe(7)
          expect(idsOf(yield* store.query([{}]))).toEqual([e.id])
        }))

      test("after put resolves the event is visible to query and count", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          for (let i = 0; i < 5; i++) {
            const e = makeEvent({ created_at: T0 + i }, k)
            yield* store.put(e)
            expect(idsOf(yield* store.query([{ ids: [e.id] }]))).toEqual([e.id])
            expect(yield* store.count([{ authors: [k.pk] }])).toBe(i + 1)
          }
        }))
    })

    // ------------------------------------------------------------------ replaceable

    describe("replaceable events (0, 3, 10000-19999)", () => {
      for (const kind of [0, 3, 10000, 10002, 19999]) {
        test(`kind ${kind}: the newest version per pubkey replaces older ones`, (store) =>
          Effect.gen(function* () {
            const k = newKey()
            const v1 = makeEvent({ kind, created_at: T0 }, k)
            const v2 = makeEvent({ kind, created_at: T0 + 10 }, k)
            const v0 = makeEvent({ kind, created_at: T0 - 10 }, k)
            expect(yield* store.put(v1)).toBe("stored")
            expect(yield* store.put(v2)).toBe("stored")
            expect(idsOf(yield* store.query([{ kinds: [kind], authors: [k.pk] }]))).toEqual([v2.id])
            // An older version arriving later is superseded and not stored.
            expect(yield* store.put(v0)).toBe("superseded")
            expect(yield* store.put(v1)).toBe("superseded")
            expect(idsOf(yield* allOf(store, k))).toEqual([v2.id])
            expect(yield* store.query([{ ids: [v1.id, v0.id] }])).toEqual([])
            expect(yield* store.count([{ kinds: [kind] }])).toBe(1)
          }))
      }

      test("the address is pubkey+kind: other pubkeys and other kinds are independent", (store) =>
        Effect.gen(function* () {
          const a = newKey()
          const b = newKey()
          const a0 = makeEvent({ kind: 0, created_at: T0 }, a)
          const a3 = makeEvent({ kind: 3, created_at: T0 }, a)
          const a10002 = makeEvent({ kind: 10002, created_at: T0 }, a)
          const b0 = makeEvent({ kind: 0, created_at: T0 + 5 }, b)
          expect(yield* putAll(store, [a0, a3, a10002, b0])).toEqual(["stored", "stored", "stored", "stored"])
          expect(sortedIds(yield* allOf(store, a, b))).toEqual(sortedIds([a0, a3, a10002, b0]))
        }))

      test("a d tag does not split a replaceable address", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const x = makeEvent({ kind: 10000, created_at: T0, tags: [["d", "x"]] }, k)
          const y = makeEvent({ kind: 10000, created_at: T0 + 1, tags: [["d", "y"]] }, k)
          yield* putAll(store, [x, y])
          expect(idsOf(yield* allOf(store, k))).toEqual([y.id])
        }))

      test("equal created_at: the lowest id wins when it arrives second", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const [low, high] = sameSecond({ kind: 0, created_at: T0 }, k)
          expect(yield* store.put(high!)).toBe("stored")
          expect(yield* store.put(low!)).toBe("stored")
          expect(idsOf(yield* allOf(store, k))).toEqual([low!.id])
          expect(yield* store.put(high!)).toBe("superseded")
          expect(idsOf(yield* allOf(store, k))).toEqual([low!.id])
        }))

      test("equal created_at: the lowest id wins when it arrives first", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const [low, high] = sameSecond({ kind: 10002, created_at: T0 }, k)
          expect(yield* store.put(low!)).toBe("stored")
          expect(yield* store.put(high!)).toBe("superseded")
          expect(idsOf(yield* allOf(store, k))).toEqual([low!.id])
        }))

      test("a newer version beats a lower id", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const versions = sameSecond({ kind: 3, created_at: T0 }, k, 4)
          // The newest event has the highest id among candidates of its second.
          const newer = sameSecond({ kind: 3, created_at: T0 + 1 }, k, 2)[1]!
          yield* putAll(store, [newer, ...versions])
          expect(idsOf(yield* allOf(store, k))).toEqual([newer.id])
        }))

      test("concurrent puts of many versions leave exactly the winner", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const versions = [
            ...sameSecond({ kind: 10002, created_at: T0 + 3 }, k, 3),
            makeEvent({ kind: 10002, created_at: T0 + 1 }, k),
            makeEvent({ kind: 10002, created_at: T0 + 2 }, k),
            ...sameSecond({ kind: 10002, created_at: T0 }, k, 3)
          ]
          const winner = nip01Order(versions)[0]!
          yield* Effect.all(
            [...versions].reverse().map((e) => store.put(e)),
            { concurrency: "unbounded" }
          )
          expect(idsOf(yield* allOf(store, k))).toEqual([winner.id])
        }))
    })

    // ------------------------------------------------------------------ addressable

    describe("addressable events (30000-39999)", () => {
      for (const kind of [30000, 30023, 39999]) {
        test(`kind ${kind}: newest per pubkey+kind+d, other d values kept`, (store) =>
          Effect.gen(function* () {
            const k = newKey()
            const a1 = makeEvent({ kind, created_at: T0, tags: [["d", "a"]] }, k)
            const a2 = makeEvent({ kind, created_at: T0 + 1, tags: [["d", "a"]] }, k)
            const b1 = makeEvent({ kind, created_at: T0, tags: [["d", "b"]] }, k)
            expect(yield* putAll(store, [a1, b1, a2])).toEqual(["stored", "stored", "stored"])
            expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([a2, b1]))
            expect(yield* store.put(a1)).toBe("superseded")
            expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([a2, b1]))
          }))
      }

      test("missing d, valueless [\"d\"] and [\"d\", \"\"] are the same address", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const none = makeEvent({ kind: 30078, created_at: T0, tags: [] }, k)
          const valueless = makeEvent({ kind: 30078, created_at: T0 + 1, tags: [["d"]] }, k)
          const empty = makeEvent({ kind: 30078, created_at: T0 + 2, tags: [["d", ""]] }, k)
          const other = makeEvent({ kind: 30078, created_at: T0, tags: [["d", "x"]] }, k)
          expect(yield* putAll(store, [other, none, valueless])).toEqual(["stored", "stored", "stored"])
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([other, valueless]))
          expect(yield* store.put(empty)).toBe("stored")
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([other, empty]))
          expect(yield* store.put(none)).toBe("superseded")
          expect(yield* store.put(valueless)).toBe("superseded")
        }))

      test("the same address in reverse arrival order: older versions are superseded", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const empty = makeEvent({ kind: 30000, created_at: T0 + 2, tags: [["d", ""]] }, k)
          const none = makeEvent({ kind: 30000, created_at: T0 + 1 }, k)
          const valueless = makeEvent({ kind: 30000, created_at: T0, tags: [["d"]] }, k)
          expect(yield* putAll(store, [empty, none, valueless])).toEqual(["stored", "superseded", "superseded"])
          expect(idsOf(yield* allOf(store, k))).toEqual([empty.id])
        }))

      test("the address uses the first d tag", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const xy = makeEvent({ kind: 30001, created_at: T0, tags: [["d", "x"], ["d", "y"]] }, k)
          const y = makeEvent({ kind: 30001, created_at: T0 + 1, tags: [["d", "y"]] }, k)
          const x = makeEvent({ kind: 30001, created_at: T0 + 2, tags: [["d", "x"]] }, k)
          yield* putAll(store, [xy, y])
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([xy, y]))
          yield* store.put(x)
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([x, y]))
        }))

      test("d values are compared exactly (case, whitespace)", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const evs = ["x", "X", " x", "x "].map((d, i) => makeEvent({ kind: 30002, created_at: T0 + i, tags: [["d", d]] }, k))
          expect(yield* putAll(store, evs)).toEqual(["stored", "stored", "stored", "stored"])
          expect((yield* allOf(store, k)).length).toBe(4)
        }))

      test("kind and pubkey are part of the address", (store) =>
        Effect.gen(function* () {
          const a = newKey()
          const b = newKey()
          const evs = [
            makeEvent({ kind: 30000, created_at: T0, tags: [["d", "same"]] }, a),
            makeEvent({ kind: 30001, created_at: T0 + 1, tags: [["d", "same"]] }, a),
            makeEvent({ kind: 30000, created_at: T0 + 2, tags: [["d", "same"]] }, b)
          ]
          expect(yield* putAll(store, evs)).toEqual(["stored", "stored", "stored"])
          expect(sortedIds(yield* allOf(store, a, b))).toEqual(sortedIds(evs))
        }))

      test("equal created_at goes to the lowest id in both arrival orders", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const [low1, high1] = sameSecond({ kind: 30023, created_at: T0, tags: [["d", "one"]] }, k)
          const [low2, high2] = sameSecond({ kind: 30023, created_at: T0, tags: [["d", "two"]] }, k)
          expect(yield* putAll(store, [low1!, high1!])).toEqual(["stored", "superseded"])
          expect(yield* putAll(store, [high2!, low2!])).toEqual(["stored", "stored"])
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([low1!, low2!]))
        }))
    })

    // ------------------------------------------------------------------ query

    describe("query", () => {
      test("returns newest first, ties by lowest id", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const evs = [
            ...sameSecond({ created_at: T0 + 5 }, k, 3),
            makeEvent({ created_at: T0 + 9 }, k),
            makeEvent({ created_at: T0 }, k),
            ...sameSecond({ created_at: T0 + 1 }, k, 3)
          ]
          // Insert in an order unrelated to the expected one.
          yield* putAll(store, [...evs].sort((a, b) => (a.sig < b.sig ? -1 : 1)))
          const got = yield* store.query([{ authors: [k.pk] }])
          expect(idsOf(got)).toEqual(idsOf(nip01Order(evs)))
          expect(got.map((e) => e.created_at)).toEqual([T0 + 9, T0 + 5, T0 + 5, T0 + 5, T0 + 1, T0 + 1, T0 + 1, T0])
        }))

      test("limit keeps the newest n (lowest ids within the cut second)", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const evs = [makeEvent({ created_at: T0 + 3 }, k), ...sameSecond({ created_at: T0 + 2 }, k, 4), makeEvent({ created_at: T0 }, k)]
          yield* putAll(store, evs)
          const sorted = nip01Order(evs)
          for (const n of [1, 2, 3, 5, 6, 100]) {
            expect(idsOf(yield* store.query([{ authors: [k.pk], limit: n }]))).toEqual(idsOf(sorted.slice(0, n)))
          }
        }))

      test("limit 0 returns nothing", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          yield* putAll(store, [makeEvent({}, k), makeEvent({}, k)])
          expect(yield* store.query([{ limit: 0 }])).toEqual([])
          expect(yield* store.query([{ authors: [k.pk], limit: 0 }])).toEqual([])
        }))

      test("each filter has its own limit; the union is ordered and has no duplicates", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const notes = Array.from({ length: 5 }, (_, i) => makeEvent({ kind: 1, created_at: T0 + 2 * i }, k))
          const reactions = Array.from({ length: 5 }, (_, i) => makeEvent({ kind: 7, created_at: T0 + 2 * i + 1 }, k))
          yield* putAll(store, [...notes, ...reactions])
          const got = yield* store.query([
            { kinds: [1], limit: 2 },
            { kinds: [7], limit: 3 }
          ])
          const expected = nip01Order([...nip01Order(notes).slice(0, 2), ...nip01Order(reactions).slice(0, 3)])
          expect(idsOf(got)).toEqual(idsOf(expected))
        }))

      test("overlapping filters return each event once", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const evs = Array.from({ length: 4 }, (_, i) => makeEvent({ kind: 1, created_at: T0 + i, tags: [["t", "x"]] }, k))
          yield* putAll(store, evs)
          const got = yield* store.query([{ kinds: [1] }, { authors: [k.pk] }, { "tags": { t: ["x"] } }, { ids: [evs[0]!.id] }])
          expect(idsOf(got)).toEqual(idsOf(nip01Order(evs)))
          // A limited filter and an unlimited one over the same events.
          const got2 = yield* store.query([{ kinds: [1], limit: 1 }, { authors: [k.pk], limit: 3 }])
          expect(idsOf(got2)).toEqual(idsOf(nip01Order(evs).slice(0, 3)))
        }))

      test("no filters, or filters that can match nothing, return nothing", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const e = makeEvent({ tags: [["t", "x"]] }, k)
          yield* store.put(e)
          expect(yield* store.query([])).toEqual([])
          const empties: ReadonlyArray<Filter> = [
            { ids: [] },
            { authors: [] },
            { kinds: [] },
            { tags: { t: [] } },
            { authors: [k.pk], kinds: [] },
            { since: T0 + 1, until: T0 }
          ]
          for (const f of empties) {
            expect(yield* store.query([f])).toEqual([])
            expect(yield* store.count([f])).toBe(0)
          }
          // An empty filter among others does not spoil the others.
          expect(idsOf(yield* store.query([{ ids: [] }, { authors: [k.pk] }]))).toEqual([e.id])
        }))

      test("repeated values in a filter list do not repeat results", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const e = makeEvent({ kind: 1, tags: [["t", "x"]] }, k)
          yield* store.put(e)
          for (const f of [{ ids: [e.id, e.id] }, { authors: [k.pk, k.pk] }, { kinds: [1, 1] }, { tags: { t: ["x", "x"] } }] satisfies ReadonlyArray<Filter>) {
            expect(idsOf(yield* store.query([f]))).toEqual([e.id])
            expect(yield* store.count([f])).toBe(1)
          }
        }))

      test("the empty filter {} matches everything", (store) =>
        Effect.gen(function* () {
          const evs = [makeEvent({ kind: 1 }), makeEvent({ kind: 0 }), makeEvent({ kind: 30000, tags: [["d", "q"]] })]
          yield* putAll(store, evs)
          expect(sortedIds(yield* store.query([{}]))).toEqual(sortedIds(evs))
          expect(yield* store.count([{}])).toBe(3)
        }))

      test("since and until are inclusive", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const evs = [0, 1, 2, 3, 4].map((i) => makeEvent({ created_at: T0 + i }, k))
          yield* putAll(store, evs)
          const times = (f: Filter) => Effect.map(store.query([{ authors: [k.pk], ...f }]), (r) => r.map((e) => e.created_at - T0))
          expect(yield* times({ since: T0 + 1 })).toEqual([4, 3, 2, 1])
          expect(yield* times({ until: T0 + 3 })).toEqual([3, 2, 1, 0])
          expect(yield* times({ since: T0 + 1, until: T0 + 3 })).toEqual([3, 2, 1])
          expect(yield* times({ since: T0 + 2, until: T0 + 2 })).toEqual([2])
          expect(yield* times({ since: T0 + 5 })).toEqual([])
          expect(yield* times({ until: T0 - 1 })).toEqual([])
          expect(yield* times({ since: 0 })).toEqual([4, 3, 2, 1, 0])
        }))

      test("ids, authors and kinds: any listed value matches; conditions are ANDed", (store) =>
        Effect.gen(function* () {
          const a = newKey()
          const b = newKey()
          const c = newKey()
          const a1 = makeEvent({ kind: 1, created_at: T0 }, a)
          const a7 = makeEvent({ kind: 7, created_at: T0 + 1 }, a)
          const b1 = makeEvent({ kind: 1, created_at: T0 + 2 }, b)
          const c1 = makeEvent({ kind: 1, created_at: T0 + 3 }, c)
          yield* putAll(store, [a1, a7, b1, c1])
          const q = (f: Filter) => Effect.map(store.query([f]), sortedIds)
          expect(yield* q({ ids: [a1.id, b1.id] })).toEqual(sortedIds([a1, b1]))
          expect(yield* q({ ids: ["f".repeat(64)] })).toEqual([])
          expect(yield* q({ authors: [a.pk, b.pk] })).toEqual(sortedIds([a1, a7, b1]))
          expect(yield* q({ kinds: [7] })).toEqual([a7.id])
          expect(yield* q({ kinds: [1, 7, 9] })).toEqual(sortedIds([a1, a7, b1, c1]))
          expect(yield* q({ authors: [a.pk], kinds: [1] })).toEqual([a1.id])
          expect(yield* q({ ids: [a1.id, b1.id], authors: [b.pk] })).toEqual([b1.id])
          expect(yield* q({ ids: [a7.id], kinds: [1] })).toEqual([])
          expect(yield* q({ authors: [c.pk], kinds: [1], since: T0 + 3, until: T0 + 3 })).toEqual([c1.id])
        }))

      test("tag filters match the first value of single-letter tags only", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const first = makeEvent({ created_at: T0, tags: [["t", "alpha", "beta"]] }, k)
          const second = makeEvent({ created_at: T0 + 1, tags: [["t", "beta"], ["t", "gamma"]] }, k)
          const upper = makeEvent({ created_at: T0 + 2, tags: [["T", "alpha"]] }, k)
          const multi = makeEvent({ created_at: T0 + 3, tags: [["tt", "alpha"], ["title", "alpha"]] }, k)
          const valueless = makeEvent({ created_at: T0 + 4, tags: [["t"]] }, k)
          const content = makeEvent({ created_at: T0 + 5, content: "alpha", tags: [["r", "alpha"]] }, k)
          yield* putAll(store, [first, second, upper, multi, valueless, content])
          const q = (tags: Record<string, ReadonlyArray<string>>) => Effect.map(store.query([{ tags }]), sortedIds)
          expect(yield* q({ t: ["alpha"] })).toEqual([first.id])
          // "beta" is the second value of `first`'s tag: not indexed.
          expect(yield* q({ t: ["beta"] })).toEqual([second.id])
          // Every tag's first value is indexed, not just the first tag's.
          expect(yield* q({ t: ["gamma"] })).toEqual([second.id])
          expect(yield* q({ t: ["alpha", "gamma"] })).toEqual(sortedIds([first, second]))
          // Letters are case-sensitive.
          expect(yield* q({ T: ["alpha"] })).toEqual([upper.id])
          expect(yield* q({ r: ["alpha"] })).toEqual([content.id])
          expect(yield* q({ t: [""] })).toEqual([])
          expect(yield* q({ t: ["ALPHA"] })).toEqual([])
        }))

      test("excludeTagged (the read policy's, for private groups) leaves out events tagged with a value, of the given kinds only", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const secret = makeEvent({ kind: 9, created_at: T0, tags: [["h", "secret"]] }, k)
          const open = makeEvent({ kind: 9, created_at: T0 + 1, tags: [["h", "open"]] }, k)
          const plain = makeEvent({ kind: 9, created_at: T0 + 2 }, k)
          const later = makeEvent({ kind: 9, created_at: T0 + 3, tags: [["x", "1"], ["h", "hidden"]] }, k)
          const metaHidden = makeEvent({ kind: 39000, created_at: T0 + 4, tags: [["d", "hidden"]] }, k)
          const otherKind = makeEvent({ kind: 30001, created_at: T0 + 5, tags: [["d", "hidden"]] }, k)
          yield* putAll(store, [secret, open, plain, later, metaHidden, otherKind])
          const f: Filter = {
            authors: [k.pk],
            excludeTagged: [
              { name: "h", values: ["secret", "hidden"] },
              { name: "d", values: ["hidden"], kinds: [39000, 39001] }
            ]
          }
          const want = sortedIds([open, plain, otherKind])
          expect(sortedIds(yield* store.query([f]))).toEqual(want)
          expect(yield* store.count([f])).toBe(3)
          expect((yield* store.negentropyRecords([f], 100)).map((r) => r.id).sort()).toEqual(want)
          expect(sortedIds(yield* store.query([{ ...f, tags: { h: ["secret", "open"] } }]))).toEqual([open.id])
          // Values no stored tag can hold change nothing.
          expect(sortedIds(yield* store.query([{ authors: [k.pk], kinds: [9], excludeTagged: [{ name: "h", values: ["\u0000"] }] }]))).toEqual(
            sortedIds([secret, open, plain, later])
          )
        }))

      test("several tag conditions are ANDed, and combine with other fields", (store) =>
        Effect.gen(function* () {
          const a = newKey()
          const b = newKey()
          const p = newKey().pk
          const e = "e".repeat(64)
          const both = makeEvent({ kind: 1, created_at: T0, tags: [["p", p], ["e", e]] }, a)
          const onlyP = makeEvent({ kind: 1, created_at: T0 + 1, tags: [["p", p]] }, a)
          const onlyE = makeEvent({ kind: 1, created_at: T0 + 2, tags: [["e", e]] }, a)
          const bothByB = makeEvent({ kind: 7, created_at: T0 + 3, tags: [["e", e], ["p", p]] }, b)
          yield* putAll(store, [both, onlyP, onlyE, bothByB])
          const q = (f: Filter) => Effect.map(store.query([f]), sortedIds)
          expect(yield* q({ tags: { p: [p], e: [e] } })).toEqual(sortedIds([both, bothByB]))
          expect(yield* q({ tags: { p: [p], e: [e] }, kinds: [1] })).toEqual([both.id])
          expect(yield* q({ tags: { p: [p] }, authors: [b.pk] })).toEqual([bothByB.id])
          expect(yield* q({ tags: { p: [p] }, until: T0 + 1 })).toEqual(sortedIds([both, onlyP]))
        }))

      test("#d finds the current version of an addressable event", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const v1 = makeEvent({ kind: 30023, created_at: T0, tags: [["d", "my:slug/é"]] }, k)
          const v2 = makeEvent({ kind: 30023, created_at: T0 + 1, tags: [["d", "my:slug/é"]] }, k)
          const other = makeEvent({ kind: 30023, created_at: T0 + 2, tags: [["d", "other"]] }, k)
          yield* putAll(store, [v1, v2, other])
          expect(idsOf(yield* store.query([{ kinds: [30023], authors: [k.pk], tags: { d: ["my:slug/é"] } }]))).toEqual([v2.id])
        }))

      test("replaceable and addressable queries return only the current version", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          yield* putAll(
            store,
            [0, 1, 2].map((i) => makeEvent({ kind: 0, created_at: T0 + i }, k))
          )
          const got = yield* store.query([{ kinds: [0], authors: [k.pk] }])
          expect(got.map((e) => e.created_at)).toEqual([T0 + 2])
        }))
    })

    // ------------------------------------------------------------------ queryServed

    describe("queryServed (REQ answers: each event's JSON text as stored)", () => {
      test("answers what query answers, in the same order, each text the event's eventJson", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const events = [
            ...sameSecond({ kind: 1, created_at: T0 + 5, tags: [["p", k.pk], ["t", "x"]] }, k, 3),
            makeEvent({ kind: 1, created_at: T0 + 1, tags: [["p", k.pk]] }, k),
            makeEvent({ kind: 7, created_at: T0 + 2 }, k),
            makeEvent({ kind: 30023, created_at: T0 + 3, tags: [["d", "a"]] }, k)
          ]
          yield* putAll(store, events)
          const filterSets: ReadonlyArray<ReadonlyArray<Filter>> = [
            [{ kinds: [1], limit: 100 }],
            [{ authors: [k.pk], limit: 2 }],
            [{ tags: { p: [k.pk] }, limit: 50 }],
            [{ ids: events.map((e) => e.id).reverse() }],
            [{ kinds: [7] }, { kinds: [30023], authors: [k.pk] }, { ids: [events[0]!.id] }]
          ]
          for (const filters of filterSets) {
            const plain = yield* store.query(filters)
            const served = yield* queryServed(store, filters)
            expect(served.map((s) => s.id)).toEqual(idsOf(plain))
            served.forEach((s, i) => {
              const e = plain[i]!
              expect(s.json).toBe(eventJson(e))
              expect([s.pubkey, s.kind, s.created_at]).toEqual([e.pubkey, e.kind, e.created_at])
              expect(s.event()).toEqual(e)
            })
          }
        }))

      test("unicode and escapes come back byte for byte as JSON.stringify makes them, and the id still verifies", (store) =>
        Effect.gen(function* () {
          const tricky = 'q"uote \\ back\\slash \n\r\t\b\f ctl\u0001\u001f\u007f é ß 中文 😀 \u2028\u2029 </script> \\u0041'
          const e = makeEvent({
            created_at: T0 + 7,
            content: tricky,
            tags: [["t", tricky], ["p", "😀\u0002"], ["e", ""], ["x", "a", "b\"c", "\\"]]
          })
          expect(computeEventId(e)).toBe(e.id)
          yield* putAll(store, [e])
          const [s] = yield* queryServed(store, [{ ids: [e.id] }])
          const expected = JSON.stringify({ id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind, tags: e.tags, content: e.content, sig: e.sig })
          expect(s!.json).toBe(expected)
          const parsed = JSON.parse(s!.json) as NostrEvent
          expect(parsed).toEqual(e)
          expect(computeEventId(parsed)).toBe(e.id)
          expect(s!.id).toBe(e.id)
          expect(s!.pubkey).toBe(e.pubkey)
        }))
    })

    // ------------------------------------------------------------------ scan (export)

    describe("scan (export: keyset pages, oldest first)", () => {
      /** Every page of a scan of `filter`, `max` at a time, concatenated. */
      const scanAll = (store: EventStoreShape, filter: Filter, max: number) =>
        Effect.gen(function* () {
          const out: Array<ServedEvent> = []
          let after: ScanCursor | undefined
          for (;;) {
            const page = yield* store.scan(filter, after, max)
            expect(page.length).toBeLessThanOrEqual(max)
            out.push(...page)
            if (page.length < max) return out
            after = page[page.length - 1]!
          }
        })

      test("walks every match oldest first, ties by lowest id, across pages that split a second", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const other = newKey()
          const events = [
            ...sameSecond({ kind: 1, created_at: T0 + 5, tags: [["t", "x"]] }, k, 5),
            ...Array.from({ length: 7 }, (_, i) => makeEvent({ kind: i % 2 === 0 ? 1 : 7, created_at: T0 + 10 - i, tags: [["t", i < 3 ? "x" : "y"]] }, k)),
            makeEvent({ kind: 1, created_at: T0 + 2, tags: [["t", "x"]] }, other),
            makeEvent({ kind: 0, created_at: T0 + 3 }, k),
            makeEvent({ kind: 30023, created_at: T0 + 4, tags: [["d", "a"]] }, k)
          ]
          yield* putAll(store, events)
          const oldestFirst = (es: ReadonlyArray<NostrEvent>) => [...es].sort(compareOldestFirst)
          for (const max of [1, 2, 3, 100]) {
            const all = yield* scanAll(store, {}, max)
            expect(all.map((s) => s.id)).toEqual(idsOf(oldestFirst(events)))
            all.forEach((s) => expect(s.json).toBe(eventJson(s.event())))
          }
          const filters: ReadonlyArray<Filter> = [
            { kinds: [1] },
            { authors: [k.pk], kinds: [1, 7] },
            { tags: { t: ["x"] } },
            { tags: { t: ["x", "y"] }, kinds: [7] },
            { since: T0 + 4, until: T0 + 8 },
            { ids: [events[0]!.id, events[7]!.id, events[13]!.id] },
            { kinds: [1], limit: 1 }
          ]
          for (const f of filters) {
            const { limit: _l, ...noLimit } = f
            const expected = idsOf(oldestFirst(yield* store.query([noLimit])))
            expect(expected.length).toBeGreaterThan(0)
            expect((yield* scanAll(store, f, 2)).map((s) => s.id)).toEqual(expected)
          }
          expect(yield* store.scan({ kinds: [] }, undefined, 10)).toEqual([])
          expect(yield* store.scan({}, { created_at: T0 + 10, id: "f".repeat(64) }, 10)).toEqual([])
        }))

      test("leaves out expired events, as query does", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const kept = makeEvent({ created_at: T0 }, k)
          const expiring = makeEvent({ created_at: T0 + 1, tags: [["expiration", String(T0 + 100)]] }, k)
          yield* putAll(store, [kept, expiring])
          expect((yield* atTime(T0 + 50)(store.scan({}, undefined, 10))).map((s) => s.id)).toEqual([kept.id, expiring.id])
          expect((yield* atTime(T0 + 100)(store.scan({}, undefined, 10))).map((s) => s.id)).toEqual([kept.id])
        }))
    })

    describe("storedIds (import: what a put would answer duplicate for)", () => {
      test("names the stored ids among those asked, not replaced versions, deleted or unknown ones", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const kept = makeEvent({ created_at: T0 }, k)
          const deleted = makeEvent({ created_at: T0 + 1 }, k)
          const old = makeEvent({ kind: 0, created_at: T0 + 2 }, k)
          const current = makeEvent({ kind: 0, created_at: T0 + 3 }, k)
          yield* putAll(store, [kept, deleted, old, current])
          yield* store.deleteByRequest({ pubkey: k.pk, ids: [deleted.id], addresses: [], until: T0 + 10 })
          const unknown = "ab".repeat(32)
          const found = yield* store.storedIds([kept.id, deleted.id, old.id, current.id, unknown, kept.id])
          expect([...found].sort()).toEqual([kept.id, current.id].sort())
          expect((yield* store.storedIds([])).size).toBe(0)
          for (const e of [kept, current]) expect(yield* store.put(e)).toBe("duplicate")
        }))
    })

    // ------------------------------------------------------------------ count

    describe("count", () => {
      test("counts matches, ignores limit, and counts the union once", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const other = newKey()
          const evs = Array.from({ length: 6 }, (_, i) => makeEvent({ kind: i % 2 === 0 ? 1 : 7, created_at: T0 + i }, k))
          yield* putAll(store, [...evs, makeEvent({ kind: 1 }, other)])
          expect(yield* store.count([{ authors: [k.pk] }])).toBe(6)
          expect(yield* store.count([{ authors: [k.pk], limit: 2 }])).toBe(6)
          expect(yield* store.count([{ authors: [k.pk], limit: 0 }])).toBe(6)
          expect(yield* store.count([{ kinds: [1] }])).toBe(4)
          expect(yield* store.count([{ kinds: [1], limit: 1 }, { authors: [k.pk], limit: 1 }])).toBe(7)
          expect(yield* store.count([{ kinds: [7] }, { kinds: [7] }])).toBe(3)
          expect(yield* store.count([])).toBe(0)
        }))
    })

    // ------------------------------------------------------------------ NIP-40

    describe("expiration (NIP-40)", () => {
      test("an event is returned before its expiration and not at or after it", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const exp = T0 + 1000
          const expiring = makeEvent({ created_at: T0, tags: [["expiration", String(exp)]] }, k)
          const lasting = makeEvent({ created_at: T0 + 1 }, k)
          const later = makeEvent({ created_at: T0 + 2, tags: [["expiration", String(exp + 500)]] }, k)
          yield* putAll(store, [expiring, lasting, later])
          const visible = Effect.map(store.query([{ authors: [k.pk] }]), sortedIds)
          const counted = store.count([{ authors: [k.pk] }])
          yield* atTime(T0)(
            Effect.gen(function* () {
              expect(yield* visible).toEqual(sortedIds([expiring, lasting, later]))
              yield* TestClock.adjust("999 seconds")
              expect(yield* visible).toEqual(sortedIds([expiring, lasting, later]))
              expect(yield* counted).toBe(3)
              yield* TestClock.adjust("1 second")
              expect(yield* visible).toEqual(sortedIds([lasting, later]))
              expect(yield* counted).toBe(2)
              expect(yield* store.query([{ ids: [expiring.id] }])).toEqual([])
              yield* TestClock.adjust("500 seconds")
              expect(yield* visible).toEqual([lasting.id])
              expect(yield* counted).toBe(1)
            })
          )
          // Long past every expiration.
          expect(yield* atTime(exp + 10_000_000)(visible)).toEqual([lasting.id])
        }))

      test("an expired event does not take a slot of the limit", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const old = makeEvent({ created_at: T0 }, k)
          const expired = makeEvent({ created_at: T0 + 1, tags: [["expiration", String(T0 + 10)]] }, k)
          yield* putAll(store, [old, expired])
          expect(yield* atTime(T0 + 20)(Effect.map(store.query([{ authors: [k.pk], limit: 1 }]), idsOf))).toEqual([old.id])
        }))

      test("purgeExpired removes events expiring at or before now and returns how many", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const e1 = makeEvent({ created_at: T0, tags: [["expiration", String(T0 + 10)]] }, k)
          const e2 = makeEvent({ created_at: T0, tags: [["expiration", String(T0 + 20)]] }, k)
          const e3 = makeEvent({ created_at: T0, tags: [["expiration", String(T0 + 30)]] }, k)
          const plain = makeEvent({ created_at: T0 }, k)
          yield* putAll(store, [e1, e2, e3, plain])
          expect(yield* store.purgeExpired(T0 + 9)).toBe(0)
          expect(yield* store.purgeExpired(T0 + 20)).toBe(2)
          expect(yield* store.purgeExpired(T0 + 20)).toBe(0)
          // Before e3 expires, e3 and plain remain, and e1/e2 are gone even at an earlier clock.
          expect(yield* atTime(T0)(Effect.map(store.query([{ authors: [k.pk] }]), sortedIds))).toEqual(sortedIds([e3, plain]))
          expect(yield* store.purgeExpired(T0 + 1_000_000)).toBe(1)
          expect(yield* atTime(T0)(Effect.map(store.query([{ authors: [k.pk] }]), idsOf))).toEqual([plain.id])
        }))
    })

    // ------------------------------------------------------------------ NIP-09

    const request = (k: Key, r: Partial<Omit<DeletionRequest, "pubkey">>): DeletionRequest => ({
      pubkey: k.pk,
      ids: r.ids ?? [],
      addresses: r.addresses ?? [],
      until: r.until ?? T0 + 1_000_000
    })

    describe("deleteByRequest (NIP-09)", () => {
      test("e: deletes the author's own events and they cannot be stored again", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const e1 = makeEvent({ created_at: T0 }, k)
          const e2 = makeEvent({ created_at: T0 + 1 }, k)
          const kept = makeEvent({ created_at: T0 + 2 }, k)
          yield* putAll(store, [e1, e2, kept])
          expect(yield* store.deleteByRequest(request(k, { ids: [e1.id, e2.id] }))).toBe(2)
          expect(idsOf(yield* allOf(store, k))).toEqual([kept.id])
          expect(yield* store.count([{ ids: [e1.id, e2.id] }])).toBe(0)
          expect(yield* store.put(e1)).toBe("deleted")
          expect(yield* store.put(e2)).toBe("deleted")
          expect(idsOf(yield* allOf(store, k))).toEqual([kept.id])
          // Deleting again removes nothing.
          expect(yield* store.deleteByRequest(request(k, { ids: [e1.id] }))).toBe(0)
        }))

      test("e: events of other authors are not deleted", (store) =>
        Effect.gen(function* () {
          const alice = newKey()
          const bob = newKey()
          const bobs = makeEvent({}, bob)
          yield* store.put(bobs)
          expect(yield* store.deleteByRequest(request(alice, { ids: [bobs.id] }))).toBe(0)
          expect(idsOf(yield* store.query([{ ids: [bobs.id] }]))).toEqual([bobs.id])
        }))

      test("e: an own event not yet seen is refused when it arrives later", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const e = makeEvent({}, k)
          expect(yield* store.deleteByRequest(request(k, { ids: [e.id] }))).toBe(0)
          expect(yield* store.put(e)).toBe("deleted")
          expect(yield* store.query([{ ids: [e.id] }])).toEqual([])
        }))

      test("e: naming another author's not-yet-seen event does not block it", (store) =>
        Effect.gen(function* () {
          const alice = newKey()
          const bob = newKey()
          const bobs = makeEvent({}, bob)
          yield* store.deleteByRequest(request(alice, { ids: [bobs.id] }))
          expect(yield* store.put(bobs)).toBe("stored")
          expect(idsOf(yield* store.query([{ ids: [bobs.id] }]))).toEqual([bobs.id])
        }))

      test("e: deletion requests (kind 5) and vanish requests (kind 62) cannot be deleted", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const note = makeEvent({ created_at: T0 }, k)
          const del = makeEvent({ kind: 5, created_at: T0 + 1, tags: [["e", note.id]] }, k)
          const vanishReq = makeEvent({ kind: 62, created_at: T0 + 2, tags: [["relay", "ALL_RELAYS"]] }, k)
          yield* putAll(store, [note, del, vanishReq])
          yield* store.deleteByRequest(request(k, { ids: [note.id] }))
          expect(yield* store.deleteByRequest(request(k, { ids: [del.id, vanishReq.id] }))).toBe(0)
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([del, vanishReq]))
        }))

      test("e: a deletion request named before it arrives is still stored", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const del = makeEvent({ kind: 5, tags: [["e", "0".repeat(64)]] }, k)
          yield* store.deleteByRequest(request(k, { ids: [del.id] }))
          expect(yield* store.put(del)).toBe("stored")
        }))

      test("e: a replaceable event named by id is deleted", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const profile = makeEvent({ kind: 0 }, k)
          const list = makeEvent({ kind: 30000, tags: [["d", "l"]] }, k)
          yield* putAll(store, [profile, list])
          expect(yield* store.deleteByRequest(request(k, { ids: [profile.id, list.id] }))).toBe(2)
          expect(yield* allOf(store, k)).toEqual([])
          expect(yield* store.put(profile)).toBe("deleted")
        }))

      test("a: deletes addressable versions up to `until` and refuses older ones later", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const v1 = makeEvent({ kind: 30023, created_at: T0, tags: [["d", "post"]] }, k)
          const v2 = makeEvent({ kind: 30023, created_at: T0 + 10, tags: [["d", "post"]] }, k)
          const otherD = makeEvent({ kind: 30023, created_at: T0, tags: [["d", "other"]] }, k)
          const otherKind = makeEvent({ kind: 30024, created_at: T0, tags: [["d", "post"]] }, k)
          yield* putAll(store, [v2, otherD, otherKind])
          const n = yield* store.deleteByRequest(request(k, { addresses: [{ kind: 30023, pubkey: k.pk, d: "post" }], until: T0 + 10 }))
          expect(n).toBe(1)
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([otherD, otherKind]))
          // Versions up to `until` may not come back, whether seen before or not.
          expect(yield* store.put(v1)).toBe("deleted")
          expect(yield* store.put(v2)).toBe("deleted")
          expect(yield* store.put(makeEvent({ kind: 30023, created_at: T0 + 10, tags: [["d", "post"]] }, k))).toBe("deleted")
          // A newer version is welcome.
          const v3 = makeEvent({ kind: 30023, created_at: T0 + 11, tags: [["d", "post"]] }, k)
          expect(yield* store.put(v3)).toBe("stored")
          expect(sortedIds(yield* allOf(store, k))).toEqual(sortedIds([otherD, otherKind, v3]))
        }))

      test("a: a version newer than `until` survives the request", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const v = makeEvent({ kind: 30000, created_at: T0 + 50, tags: [["d", "x"]] }, k)
          yield* store.put(v)
          expect(yield* store.deleteByRequest(request(k, { addresses: [{ kind: 30000, pubkey: k.pk, d: "x" }], until: T0 + 49 }))).toBe(0)
          expect(idsOf(yield* allOf(store, k))).toEqual([v.id])
          expect(yield* store.put(makeEvent({ kind: 30000, created_at: T0 + 40, tags: [["d", "x"]] }, k))).not.toBe("stored")
        }))

      test("a: the empty d address covers missing, valueless and empty d tags", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const v = makeEvent({ kind: 30078, created_at: T0 + 2, tags: [["d"]] }, k)
          yield* store.put(v)
          expect(yield* store.deleteByRequest(request(k, { addresses: [{ kind: 30078, pubkey: k.pk, d: "" }], until: T0 + 5 }))).toBe(1)
          expect(yield* allOf(store, k)).toEqual([])
          expect(yield* store.put(makeEvent({ kind: 30078, created_at: T0 + 3 }, k))).toBe("deleted")
          expect(yield* store.put(makeEvent({ kind: 30078, created_at: T0 + 4, tags: [["d", ""]] }, k))).toBe("deleted")
          expect(yield* store.put(makeEvent({ kind: 30078, created_at: T0 + 4, tags: [["d", "y"]] }, k))).toBe("stored")
        }))

      test("a: replaceable addresses (kind:pubkey:) are deleted the same way", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const relays = makeEvent({ kind: 10002, created_at: T0 }, k)
          const profile = makeEvent({ kind: 0, created_at: T0 }, k)
          yield* putAll(store, [relays, profile])
          expect(yield* store.deleteByRequest(request(k, { addresses: [{ kind: 10002, pubkey: k.pk, d: "" }], until: T0 + 1 }))).toBe(1)
          expect(idsOf(yield* allOf(store, k))).toEqual([profile.id])
          expect(yield* store.put(makeEvent({ kind: 10002, created_at: T0 + 1 }, k))).toBe("deleted")
          expect(yield* store.put(makeEvent({ kind: 10002, created_at: T0 + 2 }, k))).toBe("stored")
        }))

      test("a: a later request with an earlier `until` does not shrink the blocked range", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const address = { kind: 30000, pubkey: k.pk, d: "m" }
          yield* store.deleteByRequest(request(k, { addresses: [address], until: T0 + 10 }))
          yield* store.deleteByRequest(request(k, { addresses: [address], until: T0 + 5 }))
          expect(yield* store.put(makeEvent({ kind: 30000, created_at: T0 + 8, tags: [["d", "m"]] }, k))).toBe("deleted")
          expect(yield* store.put(makeEvent({ kind: 30000, created_at: T0 + 11, tags: [["d", "m"]] }, k))).toBe("stored")
        }))

      test("e and a in one request: the count covers both", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const note = makeEvent({ kind: 1, created_at: T0 }, k)
          const article = makeEvent({ kind: 30023, created_at: T0, tags: [["d", "z"]] }, k)
          const kept = makeEvent({ kind: 1, created_at: T0 }, k)
          yield* putAll(store, [note, article, kept])
          const n = yield* store.deleteByRequest(request(k, { ids: [note.id], addresses: [{ kind: 30023, pubkey: k.pk, d: "z" }], until: T0 }))
          expect(n).toBe(2)
          expect(idsOf(yield* allOf(store, k))).toEqual([kept.id])
        }))

      test("a: addresses of other pubkeys are ignored", (store) =>
        Effect.gen(function* () {
          const alice = newKey()
          const bob = newKey()
          const bobs = makeEvent({ kind: 30000, created_at: T0, tags: [["d", "x"]] }, bob)
          yield* store.put(bobs)
          const n = yield* store.deleteByRequest(request(alice, { addresses: [{ kind: 30000, pubkey: bob.pk, d: "x" }], until: T0 + 100 }))
          expect(n).toBe(0)
          expect(idsOf(yield* allOf(store, bob))).toEqual([bobs.id])
          expect(yield* store.put(makeEvent({ kind: 30000, created_at: T0 + 1, tags: [["d", "x"]] }, bob))).toBe("stored")
        }))
    })

    // ------------------------------------------------------------------ NIP-62

    describe("vanish (NIP-62)", () => {
      test("removes the pubkey's events up to `until`, of every kind, and keeps newer ones and other pubkeys", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const other = newKey()
          const mine = [
            makeEvent({ kind: 1, created_at: T0 }, k),
            makeEvent({ kind: 0, created_at: T0 + 1 }, k),
            makeEvent({ kind: 30023, created_at: T0 + 2, tags: [["d", "a"]] }, k),
            makeEvent({ kind: 5, created_at: T0 + 3, tags: [["e", "0".repeat(64)]] }, k),
            makeEvent({ kind: 7, created_at: T0 + 10 }, k)
          ]
          const newer = makeEvent({ kind: 1, created_at: T0 + 11 }, k)
          const theirs = makeEvent({ kind: 1, created_at: T0, tags: [["p", k.pk]] }, other)
          yield* putAll(store, [...mine, newer, theirs])
          expect(yield* store.vanish(k.pk, T0 + 10)).toBe(5)
          expect(idsOf(yield* allOf(store, k))).toEqual([newer.id])
          expect(idsOf(yield* allOf(store, other))).toEqual([theirs.id])
        }))

      test("removes gift wraps (1059) p-tagged to the pubkey, and nothing else p-tagged", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const someoneElse = newKey().pk
          const wrapToMe = makeEvent({ kind: 1059, created_at: T0, tags: [["p", k.pk]] })
          const wrapToMeLater = makeEvent({ kind: 1059, created_at: T0 + 3, tags: [["p", someoneElse], ["p", k.pk]] })
          const wrapToOther = makeEvent({ kind: 1059, created_at: T0, tags: [["p", someoneElse]] })
          const mention = makeEvent({ kind: 1, created_at: T0, tags: [["p", k.pk]] })
          yield* putAll(store, [wrapToMe, wrapToMeLater, wrapToOther, mention])
          expect(yield* store.vanish(k.pk, T0 + 5)).toBe(2)
          expect(sortedIds(yield* store.query([{}]))).toEqual(sortedIds([wrapToOther, mention]))
          expect(yield* store.query([{ kinds: [1059], tags: { p: [k.pk] } }])).toEqual([])
        }))

      test("vanished events cannot be stored again", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const note = makeEvent({ kind: 1, created_at: T0 }, k)
          const profile = makeEvent({ kind: 0, created_at: T0 }, k)
          const wrap = makeEvent({ kind: 1059, created_at: T0, tags: [["p", k.pk]] })
          yield* putAll(store, [note, profile, wrap])
          expect(yield* store.vanish(k.pk, T0 + 1)).toBe(3)
          expect(yield* store.put(note)).toBe("deleted")
          expect(yield* store.put(profile)).toBe("deleted")
          expect(yield* store.put(wrap)).toBe("deleted")
          expect(yield* store.query([{}])).toEqual([])
          // New activity after the request is accepted.
          expect(yield* store.put(makeEvent({ kind: 1, created_at: T0 + 2 }, k))).toBe("stored")
        }))

      test("vanishing an unknown pubkey removes nothing", (store) =>
        Effect.gen(function* () {
          const e = makeEvent({})
          yield* store.put(e)
          expect(yield* store.vanish(newKey().pk, T0 + 100)).toBe(0)
          expect(idsOf(yield* store.query([{}]))).toEqual([e.id])
        }))
    })

    // ------------------------------------------------------------------ retention

    describe("retention", () => {
      const DAY = 86400
      const policy = (text: string) => {
        const p = parseRetention(text)
        if ("error" in p) throw new Error(p.error)
        return p
      }

      test("removes events past their kind's age, first matching rule winning, default last, never kept", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const now = T0 + 100 * DAY
          const at = (kind: number, daysAgo: number, tags: ReadonlyArray<ReadonlyArray<string>> = []) =>
            makeEvent({ kind, created_at: now - daysAgo * DAY, tags }, k)
          const keep = [at(1, 29), at(7, 1), at(30023, 99, [["d", "a"]]), at(30000, 50, [["d", "b"]]), at(4, 9)]
          const drop = [at(1, 31), at(7, 3), at(4, 11), at(10002, 12)]
          yield* putAll(store, [...keep, ...drop])
          // kind 1: 30 days; 7: 2 days; 30000-39999 never, except what an earlier rule says; everything else 10 days.
          const p = policy("1=30d,7=2d,30000-39999=never,default=10d")
          expect(yield* store.purgeByRetention(p, now)).toBe(drop.length)
          expect(sortedIds(yield* atTime(now)(store.query([{ authors: [k.pk] }])))).toEqual(sortedIds(keep))
          expect(yield* store.purgeByRetention(p, now)).toBe(0)
          // No default: unnamed kinds stay.
          expect(yield* store.purgeByRetention(policy("1=1d"), now)).toBe(1)
          expect(sortedIds(yield* atTime(now)(store.query([{ authors: [k.pk] }])))).toEqual(sortedIds(keep.slice(1)))
        }))

      test("leaves deletion tombstones: a deleted event is still refused after retention removed the rest", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const now = T0 + 100 * DAY
          const old = makeEvent({ created_at: now - 50 * DAY }, k)
          const gone = makeEvent({ created_at: now - 50 * DAY }, k)
          yield* putAll(store, [old, gone])
          yield* store.deleteByRequest({ pubkey: k.pk, ids: [gone.id], addresses: [], until: now })
          expect(yield* store.purgeByRetention(policy("default=30d"), now)).toBe(1)
          expect(yield* store.put(gone)).toBe("deleted")
          // A retention-removed event is not a deleted one: it may be stored again.
          expect(yield* store.put(old)).toBe("stored")
        }))

      test("replaceable and addressable addresses stay consistent after their head is removed", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const now = T0 + 100 * DAY
          const profile = makeEvent({ kind: 0, created_at: now - 40 * DAY }, k)
          const article = makeEvent({ kind: 30023, created_at: now - 40 * DAY, tags: [["d", "x"]] }, k)
          yield* putAll(store, [profile, article])
          expect(yield* store.purgeByRetention(policy("default=30d"), now)).toBe(2)
          expect(yield* atTime(now)(store.query([{ authors: [k.pk] }]))).toEqual([])
          // An older version than the removed one is accepted again (the address is empty now) and wins.
          const older = makeEvent({ kind: 0, created_at: now - 45 * DAY }, k)
          expect(yield* store.put(older)).toBe("stored")
          const newer = makeEvent({ kind: 30023, created_at: now - 1, tags: [["d", "x"]] }, k)
          expect(yield* store.put(newer)).toBe("stored")
          expect(sortedIds(yield* atTime(now)(store.query([{ authors: [k.pk] }])))).toEqual(sortedIds([older, newer]))
        }))

      test("removes more events than one batch", (store) =>
        Effect.gen(function* () {
          const k = newKey()
          const now = T0 + 100 * DAY
          const n = 5200
          // Stores do not check signatures: ids are real, signatures are not (signing 5,200 events takes seconds).
          const events = Array.from({ length: n }, (_, i): NostrEvent => {
            const body = { pubkey: k.pk, created_at: now - 20 * DAY - i, kind: 1, tags: [], content: `old ${i}` }
            return { ...body, id: computeEventId(body), sig: "0".repeat(128) }
          })
          yield* Effect.forEach(events, (e) => store.put(e), { concurrency: 64, discard: true })
          const fresh = makeEvent({ created_at: now }, k)
          yield* store.put(fresh)
          expect(yield* store.purgeByRetention(policy("1=10d"), now)).toBe(n)
          expect(idsOf(yield* atTime(now)(store.query([{ authors: [k.pk] }])))).toEqual([fresh.id])
        }), 120_000)
    })
  })
