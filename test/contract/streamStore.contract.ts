/**
 * The StreamStore contract: one suite for every adapter. `makeLayer` is called
 * per test and must give an EMPTY store; `reopen` (when the adapter persists)
 * gives a second store over the same data, as after a restart.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { StreamStore, type StreamStoreShape } from "../../src/storage/StreamStore.ts"

type Body = (store: StreamStoreShape) => Effect.Effect<void, unknown>

export const streamStoreContract = (name: string, makeLayer: () => Layer.Layer<StreamStore, unknown>, reopen?: () => Layer.Layer<StreamStore, unknown>) =>
  describe(`StreamStore contract: ${name}`, () => {
    const test = (title: string, body: Body) => it.live(title, () => Effect.flatMap(StreamStore, body).pipe(Effect.provide(makeLayer())))
    const A = "ws://a.example:7777"
    const B = "wss://b.example"

    test("adds, replaces, lists and removes runtime streams", (s) =>
      Effect.gen(function* () {
        expect(yield* s.load).toEqual([])
        yield* s.add({ url: B, direction: "up", filter: "", authKey: "" })
        yield* s.add({ url: A, direction: "down", filter: '{"kinds":[1]}', authKey: "11".repeat(32) })
        yield* s.add({ url: B, direction: "both", filter: "", authKey: "" })
        const rows = yield* s.load
        expect(rows.map((r) => [r.url, r.runtime, r.direction, r.filter, r.authKey, r.paused])).toEqual([
          [A, true, "down", '{"kinds":[1]}', "11".repeat(32), false],
          [B, true, "both", "", "", false]
        ])
        expect(yield* s.remove(A)).toBe(true)
        expect(yield* s.remove(A)).toBe(false)
        expect((yield* s.load).map((r) => r.url)).toEqual([B])
      }))

    test("pauses configured and runtime streams; a configured stream's row is not removable", (s) =>
      Effect.gen(function* () {
        yield* s.setPaused(A, true)
        yield* s.add({ url: B, direction: "up", filter: "", authKey: "" })
        yield* s.setPaused(B, true)
        yield* s.setPaused(B, false)
        const rows = yield* s.load
        expect(rows.map((r) => [r.url, r.runtime, r.paused])).toEqual([
          [A, false, true],
          [B, true, false]
        ])
        expect(yield* s.remove(A)).toBe(false)
        // Adding a configured URL at run time keeps its pause.
        yield* s.add({ url: A, direction: "both", filter: "", authKey: "" })
        expect((yield* s.load)[0]).toMatchObject({ url: A, runtime: true, paused: true, direction: "both" })
      }))

    test("positions move forward per direction, never back", (s) =>
      Effect.gen(function* () {
        yield* s.advance(A, "down", { createdAt: 100, id: "a".repeat(64) })
        yield* s.advance(A, "down", { createdAt: 90, id: "b".repeat(64) })
        yield* s.advance(A, "up", { createdAt: 50, id: "" })
        yield* s.advance(A, "up", { createdAt: 70, id: "c".repeat(64) })
        const [row] = yield* s.load
        expect(row).toMatchObject({ url: A, runtime: false, paused: false })
        expect(row!.down).toEqual({ createdAt: 100, id: "a".repeat(64) })
        expect(row!.up).toEqual({ createdAt: 70, id: "c".repeat(64) })
        // Back only when past it; a direction without a position keeps none.
        yield* s.rewind(A, "up", { createdAt: 80, id: "" })
        yield* s.rewind(A, "up", { createdAt: 60, id: "" })
        yield* s.rewind(A, "up", { createdAt: 65, id: "e".repeat(64) })
        yield* s.rewind(B, "down", { createdAt: 10, id: "" })
        const [again, none] = yield* s.load
        expect(again!.up).toEqual({ createdAt: 60, id: "" })
        expect(none).toBeUndefined()
        yield* s.advance(A, "up", { createdAt: 70, id: "c".repeat(64) })
        // A runtime add keeps positions.
        yield* s.add({ url: A, direction: "both", filter: "", authKey: "" })
        expect((yield* s.load)[0]!.down).toEqual({ createdAt: 100, id: "a".repeat(64) })
      }))

    test("one owner at a time holds a stream's lease, until it ends or is given up", (s) =>
      Effect.gen(function* () {
        expect(yield* s.claim(A, "w1", 100, 110)).toBe(true)
        expect(yield* s.claim(A, "w2", 105, 115)).toBe(false)
        expect(yield* s.claim(A, "w1", 108, 118)).toBe(true) // renewed
        expect(yield* s.claim(A, "w2", 118, 128)).toBe(false) // not ended yet
        expect(yield* s.claim(A, "w2", 119, 129)).toBe(true) // ended: taken over
        expect(yield* s.claim(A, "w1", 120, 130)).toBe(false)
        yield* s.release(A, "w1") // not its lease: nothing happens
        expect(yield* s.claim(A, "w1", 121, 131)).toBe(false)
        yield* s.release(A, "w2")
        expect(yield* s.claim(A, "w1", 122, 132)).toBe(true)
        expect(yield* s.claim(B, "w2", 122, 132)).toBe(true) // per stream
        // A lease keeps the row's other state, and a runtime add keeps the lease.
        yield* s.add({ url: A, direction: "up", filter: "", authKey: "" })
        expect(yield* s.claim(A, "w2", 123, 133)).toBe(false)
      }))

    if (reopen !== undefined) {
      test("what is stored survives a restart", (s) =>
        Effect.gen(function* () {
          yield* s.add({ url: B, direction: "up", filter: "", authKey: "" })
          yield* s.setPaused(B, true)
          yield* s.advance(B, "up", { createdAt: 1234, id: "d".repeat(64) })
          const rows = yield* Effect.flatMap(StreamStore, (x) => x.load).pipe(Effect.provide(reopen()))
          expect(rows).toEqual([
            { url: B, runtime: true, direction: "up", filter: "", authKey: "", paused: true, down: undefined, up: { createdAt: 1234, id: "d".repeat(64) } }
          ])
        }))
    }
  })
